"""The README's first command in a fresh virtual environment, then ``collect`` on live (local) servers.

A new user runs ``python3 -m venv .venv && .venv/bin/pip install -e .`` and sets their keys: live
data must work from there, with nothing else installed. The install uses pip's cache, so it is
quick once the suite's own install has run. Then a dependency is removed, as a half-broken
environment would have it, and ``collect`` must say what is missing and how to fix it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fakes.http_api import FakeApis
from fakes.loop_thread import LoopThread
from fakes.market import FakeMarket
from fakes.polygon_ws import FakePolygonWs
from helpers import seed_covered_before

REPO = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    """A venv with the project installed exactly as the README's first command installs it."""
    venv = tmp_path_factory.mktemp("fresh") / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    started = time.monotonic()
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(REPO)], env=env,
                          capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    print(f"\nfresh install took {time.monotonic() - started:.0f} s")
    return venv


@pytest.fixture
def servers():
    market = FakeMarket(symbols=("AAPL", "AMZN"), start_ms=int(time.time() * 1000) - 30 * 60_000, gap_every={})
    loop = LoopThread().start()
    ws = loop.call(FakePolygonWs(market, valid_keys=("poly-secret",)).start())
    apis = FakeApis(market, polygon_keys=("poly-secret",), guardian_keys=("guard-secret",)).start()
    apis.tickers.update(AAPL="Apple Inc.", AMZN="Amazon.com, Inc.")
    now = time.time()
    apis.corpus.add("technology/x/amazon-chips", _iso(now - 3600), "Amazon unveils AI chips", "technology")
    apis.corpus.add("us-news/x/apple-tariffs", _iso(now - 1800), "Apple to build servers in Texas", "us-news")
    loop.call(ws.tick(20))
    yield ws, apis
    loop.call(ws.close())
    loop.stop()
    apis.close()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _collect(venv: Path, home: Path, ws, apis, seconds: float) -> subprocess.CompletedProcess:
    seed_covered_before(home, ("AAPL", "AMZN"), ws.market.start_ms)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(TICKERWIRE_HOME=str(home), MASSIVE_API_KEY="poly-secret", GUARDIAN_API_KEY="guard-secret",
               TICKERWIRE_POLYGON_WS_URL=ws.url, TICKERWIRE_POLYGON_REST_URL=apis.url,
               TICKERWIRE_GUARDIAN_URL=apis.url, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    return subprocess.run([str(venv / "bin" / "tickerwire"), "collect", "--watch", "AAPL,AMZN",
                           "--exit-after", str(seconds)], cwd=home.parent, env=env, capture_output=True, text=True,
                          timeout=120)


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_the_first_command_gives_live_data_and_a_missing_package_is_named(fresh_venv, servers, tmp_path):
    ws, apis = servers
    home = tmp_path / "home"
    done = _collect(fresh_venv, home, ws, apis, 8)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Polygon/Massive: running" in output and "Guardian news: running" in output, output[-3000:]
    assert "Traceback" not in output and "poly-secret" not in output and "guard-secret" not in output
    core = subprocess.run([str(fresh_venv / "bin" / "python"), "-c", "from backend.processing.aggregator import "
                           "CandleAggregator; print(CandleAggregator().native)"], capture_output=True, text=True,
                          cwd=home.parent, timeout=60)
    assert core.stdout.strip() == "True", core.stdout + core.stderr  # the install compiled the aggregator's core
    db = home / "store.sqlite"
    assert _count(db, "SELECT COUNT(*) FROM candles WHERE timeframe='1m'") >= 40  # 20 minutes × 2 symbols
    assert _count(db, "SELECT COUNT(*) FROM articles") == 2

    # A half-broken environment: the news client is gone. The window and collect must say so, not die.
    pip = fresh_venv / "bin" / "pip"
    subprocess.run([str(pip), "uninstall", "-q", "-y", "httpx"], check=True, timeout=120)
    broken = _collect(fresh_venv, tmp_path / "home2", ws, apis, 4)
    output = broken.stdout + broken.stderr
    assert "Guardian news: failed" in output and "No module named 'httpx'" in output, output[-3000:]
    assert "pip install -e ." in output and "Polygon/Massive: running" in output
    assert "Traceback" not in output

    subprocess.run([str(pip), "uninstall", "-q", "-y", "polygon-api-client"], check=True, timeout=120)
    broken = _collect(fresh_venv, tmp_path / "home3", ws, apis, 4)
    output = broken.stdout + broken.stderr
    assert "Polygon/Massive: failed" in output and "polygon-api-client" in output, output[-3000:]
    assert "Traceback" not in output and "Task exception was never retrieved" not in output


def test_collect_exits_non_zero_when_a_source_cannot_run(fresh_venv, servers, tmp_path):
    ws, apis = servers
    subprocess.run([str(fresh_venv / "bin" / "pip"), "uninstall", "-q", "-y", "httpx"], timeout=120)
    broken = _collect(fresh_venv, tmp_path / "home", ws, apis, 3)
    assert "Guardian news: failed" in broken.stdout + broken.stderr
    assert broken.returncode == 3
