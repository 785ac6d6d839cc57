"""The command line: export formats and messages, and a smoke run of the GUI that writes a screenshot."""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import subprocess
import sys

import pytest
from helpers import sample_bars, sample_guardian_page

from app.cli import main
from backend.model import Timeframe
from backend.processing.aggregator import aggregate
from backend.stores.sqlite import SqliteStore
from backend.wire.guardian import parse_search_page
from backend.pipeline.runtime import FeedChoice, store_path


@pytest.fixture
def filled_store():
    store = SqliteStore(store_path(FeedChoice("live")))
    store.upsert_candles(aggregate(sample_bars()).values())
    store.upsert_articles(parse_search_page(sample_guardian_page(), symbols=frozenset({"AMZN"})).articles)
    store.close()


def test_export_candles_csv(filled_store, capsys):
    assert main(["export", "candles", "--symbol", "aapl", "--timeframe", "1m", "--format", "csv",
                 "--start", "2025-02-03T14:32Z", "--end", "2025-02-03T14:34:00Z"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0][:6] == ["time", "open", "high", "low", "close", "volume"]
    assert [r[0] for r in rows[1:]] == ["2025-02-03T14:32:00Z", "2025-02-03T14:33:00Z"]
    assert float(rows[1][5]) == 229812  # the corrected volume


def test_export_candles_parquet(filled_store, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "aapl.parquet"
    assert main(["export", "candles", "--symbol", "AMZN", "--timeframe", "5m", "--format", "parquet",
                 "--output", str(out)]) == 0
    table = pq.read_table(out)
    assert table.column_names[:6] == ["time", "open", "high", "low", "close", "volume"] and table.num_rows == 2


def test_export_news_json_and_csv(filled_store, capsys):
    assert main(["export", "news", "--format", "json", "--start", "2025-02-03"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in records} == {"technology/2025/feb/03/amazon-cloud-revenue-ai-spending",
                                          "us-news/live/2025/feb/03/us-politics-live-tariffs-markets"}
    assert records[0]["published"].endswith("Z") and records[0]["symbols"] == ["AMZN"]
    assert main(["export", "news", "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["id", "published", "title", "url", "section", "symbols"] and len(rows) == 4


def test_export_errors_are_messages_not_tracebacks(filled_store, capsys):
    assert main(["export", "candles", "--symbol", "AAPL", "--format", "csv", "--start", "yesterday"]) == 2
    assert "not an ISO 8601" in capsys.readouterr().err
    assert main(["export", "candles", "--symbol", "A;B", "--format", "csv"]) == 2
    assert "not valid" in capsys.readouterr().err
    assert main(["export", "candles", "--symbol", "AAPL", "--format", "parquet"]) == 2
    assert "--output" in capsys.readouterr().err


def test_export_without_a_store_says_so(capsys):
    assert main(["export", "news", "--format", "json"]) == 2
    assert "no live store" in capsys.readouterr().err


def test_gui_smoke_run_writes_a_screenshot(tmp_path):
    shot = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-m", "app.cli", "--demo", "--speed", "60", "--exit-after", "4",
                             "--screenshot", str(shot)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "window visible" in result.stderr
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    # The demo's own store now holds its history (the data the window showed); the live store is untouched.
    assert SqliteStore(store_path(FeedChoice("demo"))).candles("AAPL", Timeframe.D1)
    assert not store_path(FeedChoice("live")).exists()


def test_the_command_sets_the_products_garbage_collector_policy(capsys):
    from backend import gc_policy

    default = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert main(["export", "news", "--format", "json"]) == 2  # any command; this one ends at once
        assert gc.get_threshold() == (gc_policy.YOUNG_GENERATION_THRESHOLD, 10, 10)
    finally:
        gc.set_threshold(*default)
