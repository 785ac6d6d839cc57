"""The Polygon/Massive source on the real polygon-api-client against local servers, through the real pipeline."""

from __future__ import annotations

import json
import logging
import time

import pytest

from backend.model import WatchItem
from backend.sources.base import SourceState
from backend.sources.polygon import PolygonSource, initial_from_ms, split_ws_url
from fakes.harness import RunningPipeline, compare_with_truth, fast_polygon_config, stored_minutes, wait_until
from fakes.market import FakeMarket
from fakes.polygon_ws import FakePolygonWs


def items(*symbols):
    return [WatchItem(s, s) for s in symbols]


def test_ws_url_split_and_first_backfill_start():
    assert split_ws_url("wss://delayed.polygon.io/stocks") == ("delayed.polygon.io", "stocks", True)
    assert split_ws_url("ws://127.0.0.1:8765/stocks/") == ("127.0.0.1:8765", "stocks", False)
    assert split_ws_url("wss://socket.massive.com/v2/stocks") == ("socket.massive.com/v2", "stocks", True)
    for bad in ("https://socket.polygon.io/stocks", "wss://socket.polygon.io", "stocks"):
        with pytest.raises(ValueError, match="websocket URL"):
            split_ws_url(bad)
    # Monday 2025-02-03 14:31 UTC → that day's New York midnight (05:00 UTC); Sunday → Friday's.
    assert initial_from_ms(1738593060000) == 1738558800000
    assert initial_from_ms(1738497600000) == 1738299600000  # Sun 2025-02-02 12:00 UTC → Fri 2025-01-31 00:00 NY


def test_bad_ws_url_is_a_failed_state_not_a_crash(tmp_path):
    source = PolygonSource(items("AAPL"), "k", fast_polygon_config("https://nope/stocks", "http://x", tmp_path))
    with RunningPipeline(tmp_path / "s.sqlite", items("AAPL"), [source]):
        status = wait_until(lambda: source.status.state is SourceState.FAILED and source.status)
    assert "ws:// or wss://" in status.detail


def _installed(package: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(package) is not None


@pytest.mark.parametrize("client", [
    "polygon",
    pytest.param("massive", marks=pytest.mark.skipif(not _installed("massive"), reason="massive not installed")),
])
def test_stream_and_startup_backfill_give_every_minute_once(tmp_path, server_loop, ws, apis, market, client,
                                                            monkeypatch):
    """History before the start comes from REST (several next_url pages), the rest from the stream.

    Run on each official client: ``polygon-api-client`` (the default install) and its successor ``massive``.
    """
    monkeypatch.setenv("TICKERWIRE_MARKET_CLIENT", client)
    server_loop.call(ws.tick(70))  # 70 minutes happen before the app starts: 3 pages of 25 per symbol
    source = PolygonSource(items(*market.symbols), "good-key", fast_polygon_config(ws.url, apis.url, tmp_path),
                           clock=market.clock)
    with RunningPipeline(tmp_path / "s.sqlite", items(*market.symbols), [source]) as run:
        wait_until(lambda: source.status.state is SourceState.RUNNING)
        for _ in range(20):
            server_loop.call(ws.tick())
            time.sleep(0.01)
        wait_until(lambda: len(stored_minutes(run.path, market.symbols)) == len(market.truth()))
        run.stop()
    missing, extra, wrong = compare_with_truth(stored_minutes(tmp_path / "s.sqlite", market.symbols), market.truth())
    assert (missing, extra, wrong) == ([], [], [])
    assert any("cursor=" in r for r in apis.rest_requests), "next_url pages were followed"
    assert ws.connections_total == 1 and source.status.reconnects == 0
    saved = json.loads((tmp_path / "polygon_state.json").read_text())["covered"]
    assert saved["AAPL"] == max(t for (s, t) in market.truth() if s == "AAPL")
    assert source.status.extra["client"] == {"polygon": "polygon-api-client", "massive": "massive"}[client]


def test_watchlist_change_subscribes_on_the_open_connection(tmp_path, server_loop, ws, apis, market):
    source = PolygonSource(items("AAPL"), "good-key", fast_polygon_config(ws.url, apis.url, tmp_path),
                           clock=market.clock)
    with RunningPipeline(tmp_path / "s.sqlite", items("AAPL"), [source]) as run:
        wait_until(lambda: source.status.state is SourceState.RUNNING)
        server_loop.call(ws.tick(5))
        changed = time.monotonic()
        run.pipeline.set_watchlist(items("AMZN", "BRK.B"))
        wait_until(lambda: any(a == "unsubscribe" for _, a, _ in ws.actions)
                   and any(a == "subscribe" and "AM.AMZN" in p for _, a, p in ws.actions))
        sub_at = next(t for t, a, p in ws.actions if a == "subscribe" and "AM.AMZN" in p)
        assert sub_at - changed < 2.0, "subscription sent within 2 s"
        unsub = next(p for _, a, p in ws.actions if a == "unsubscribe")
        assert unsub == "AM.AAPL"
        server_loop.call(ws.tick(5))
        wanted = {k for k in market.truth() if k[0] in ("AMZN", "BRK.B")}
        wait_until(lambda: wanted <= set(stored_minutes(run.path, ["AMZN", "BRK.B"])))
        run.stop()
    assert ws.connections_total == 1, "no reconnect for a watchlist change"
    aapl_after = {t for (s, t) in stored_minutes(tmp_path / "s.sqlite", ["AAPL"])}
    assert max(aapl_after) < market.now_ms() - 5 * 60_000 + 60_000  # AAPL stopped with the unsubscribe


def test_bad_key_fails_clearly_without_retry_storm_then_recovers(tmp_path, server_loop, ws, apis, market, caplog):
    key = ["wrong-key-123"]
    source = PolygonSource(items("AAPL"), lambda: key[0], fast_polygon_config(ws.url, apis.url, tmp_path),
                           clock=market.clock)
    caplog.set_level(logging.DEBUG)
    with RunningPipeline(tmp_path / "s.sqlite", items("AAPL"), [source]):
        status = wait_until(lambda: source.status.state is SourceState.FAILED and source.status)
        time.sleep(0.5)  # 10 key checks and 100 backoff periods: a storm would show here
        assert ws.auth_attempts == 1 and ws.connections_total == 1
        assert apis.rest_requests == []
        assert "rejected the API key" in status.detail and "authentication failed" in status.detail
        key[0] = "good-key"  # the user enters the right key
        wait_until(lambda: source.status.state is SourceState.RUNNING)
    assert ws.auth_attempts == 2
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server"))
    assert "auth" in ours and "wrong-key-123" not in ours and "good-key" not in ours  # the fake server may log it
    failed_lines = [r for r in caplog.records if "failed" in r.getMessage() and r.name == "backend.sources.polygon"]
    assert len(failed_lines) == 1, "one log line for the state change"


def test_server_down_backs_off_then_reconnects_and_fills_the_gap(tmp_path, server_loop, apis, market):
    ws = server_loop.call(FakePolygonWs(market).start())
    port = ws.port
    source = PolygonSource(items(*market.symbols), "good-key", fast_polygon_config(ws.url, apis.url, tmp_path),
                           clock=market.clock)
    with RunningPipeline(tmp_path / "s.sqlite", items(*market.symbols), [source]) as run:
        wait_until(lambda: source.status.state is SourceState.RUNNING)
        server_loop.call(ws.close())
        server_loop.call(ws.drop_all("1011"))
        wait_until(lambda: source.status.state in (SourceState.BACKING_OFF, SourceState.STARTING))
        server_loop.call(ws.tick(30))  # the market goes on while the feed is down
        time.sleep(0.3)
        assert source.status.state is not SourceState.RUNNING
        ws2 = FakePolygonWs(market)

        async def restart():
            from websockets.asyncio.server import serve
            ws2._server = await serve(ws2._handle, "127.0.0.1", port)
            ws2.port = port

        server_loop.call(restart())
        wait_until(lambda: source.status.state is SourceState.RUNNING, timeout=15)
        server_loop.call(ws2.tick(3))
        wait_until(lambda: len(stored_minutes(run.path, market.symbols)) == len(market.truth()))
        run.stop()
        server_loop.call(ws2.close())
    assert compare_with_truth(stored_minutes(tmp_path / "s.sqlite", market.symbols), market.truth()) == ([], [], [])
    assert source.status.reconnects >= 1


def test_rest_faults_during_backfill_are_retried(tmp_path, server_loop, ws, apis, market):
    server_loop.call(ws.tick(60))
    apis.rest_faults.add("500", "truncated", "cutoff", "malformed")
    source = PolygonSource(items("AAPL"), "good-key", fast_polygon_config(ws.url, apis.url, tmp_path),
                           clock=market.clock)
    with RunningPipeline(tmp_path / "s.sqlite", items("AAPL"), [source]) as run:
        truth = {k: v for k, v in market.truth().items() if k[0] == "AAPL"}
        wait_until(lambda: len(stored_minutes(run.path, ["AAPL"])) == len(truth))
        run.stop()
    assert compare_with_truth(stored_minutes(tmp_path / "s.sqlite", ["AAPL"]), truth) == ([], [], [])
    assert len(apis.rest_faults) == 0 and source.backfill_requests >= 5


def test_garbage_frames_do_not_stop_the_stream(tmp_path, server_loop, ws, apis, market):
    source = PolygonSource(items("AAPL"), "good-key", fast_polygon_config(ws.url, apis.url, tmp_path),
                           clock=market.clock)
    with RunningPipeline(tmp_path / "s.sqlite", items("AAPL"), [source]) as run:
        wait_until(lambda: source.status.state is SourceState.RUNNING)
        for junk in ("not json", "[" * 3000, '[{"ev":"AM","sym":"AAPL","o":"x"}]', "{}", "[1,2]", '"AM"',
                     '[{"ev":"status","status":"error","message":"slow consumer"}]'):
            server_loop.call(ws.inject(junk))
        server_loop.call(ws.tick(5))
        truth = {k: v for k, v in market.truth().items() if k[0] == "AAPL"}
        wait_until(lambda: len(stored_minutes(run.path, ["AAPL"])) == len(truth))
        assert source.status.state is SourceState.RUNNING
        wait_until(lambda: run.pipeline.rejected_total >= 5)
        run.stop()
    assert source.status.extra["server message"] == "error: slow consumer"
    assert ws.connections_total == 1


def test_second_aggregates_subscription(tmp_path, server_loop, ws, apis):
    market = FakeMarket(symbols=("AAPL",), correction_every=0)
    ws.market = market
    cfg = fast_polygon_config(ws.url, apis.url, tmp_path, subscriptions=("A",))
    source = PolygonSource(items("AAPL"), "good-key", cfg, clock=market.clock)
    apis.market = market
    with RunningPipeline(tmp_path / "s.sqlite", items("AAPL"), [source]) as run:
        wait_until(lambda: source.status.state is SourceState.RUNNING)
        assert any(a == "subscribe" and p == "A.AAPL" for _, a, p in ws.actions)
        server_loop.call(ws.tick(4))
        wait_until(lambda: len(stored_minutes(run.path, ["AAPL"])) == 4)
        run.stop()
    stored = stored_minutes(tmp_path / "s.sqlite", ["AAPL"])
    for (sym, t), bar in market.truth().items():
        assert stored[(sym, t)].volume == bar["v"] and stored[(sym, t)].high == bar["h"]


def test_a_missing_client_package_is_a_failed_state_with_the_fix(tmp_path, ws, apis, monkeypatch):
    """No restart loop and no unretrieved task exception: the status says what is missing and how to install it."""
    import sys

    for name in ("polygon", "massive"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError, as when not installed
    source = PolygonSource(items("AAPL"), "good-key", fast_polygon_config(ws.url, apis.url, tmp_path))
    with RunningPipeline(tmp_path / "s.sqlite", items("AAPL"), [source]) as run:
        status = wait_until(lambda: source.status.state is SourceState.FAILED and source.status)
        time.sleep(0.3)
        assert ws.connections_total == 0 and apis.rest_requests == []
        run.stop()
    assert "polygon-api-client" in status.detail and "massive" in status.detail
    assert "pip install -e ." in status.detail
