"""The archive in its own process: appends and reads through the pipe, errors as StoreError, a dead child restarted."""

from __future__ import annotations

import os
import signal

import pytest
from helpers import T0

from backend.model import Article, Candle, Timeframe
from backend.processing.archive_process import ArchiveProcess
from backend.stores.base import StoreError
from backend.stores.iceberg_archive import IcebergArchive


def _candles(n: int = 5) -> list[Candle]:
    return [Candle("AAPL", Timeframe.M1, T0 + i * 60_000, 1, 2, 0.5, 1.5, 10, 1.2, 1) for i in range(n)]


def test_appends_and_reads_go_through_the_child_and_land_in_the_archive(tmp_path):
    archive = ArchiveProcess(local=str(tmp_path / "archive"))
    try:
        archive.add_candles(_candles())
        archive.add_articles([Article("a/1", T0, "t", "https://x", "business", symbols=frozenset({"AAPL"}))])
        archive.flush()
        assert [c.start_ms for c in archive.candles("AAPL", Timeframe.M1)] == [c.start_ms for c in _candles()]
        assert [a.id for a in archive.articles(symbols=["AAPL"])] == ["a/1"]
    finally:
        archive.close()
    # written for real: another reader of the same warehouse sees it
    assert len(IcebergArchive.local(tmp_path / "archive").candles("AAPL", Timeframe.M1)) == 5


def test_an_archive_that_cannot_open_is_a_store_error(tmp_path):
    blocked = tmp_path / "archive"
    blocked.write_text("a file where the directory should be")
    with pytest.raises(StoreError, match="cannot create the archive's directory"):
        ArchiveProcess(local=str(blocked))


def test_a_child_that_died_is_started_again(tmp_path):
    archive = ArchiveProcess(local=str(tmp_path / "archive"))
    try:
        os.kill(archive._process.pid, signal.SIGKILL)
        archive._process.join(5)
        archive.append_candles(_candles(3))
        assert len(archive.candles("AAPL", Timeframe.M1)) == 3
    finally:
        archive.close()
