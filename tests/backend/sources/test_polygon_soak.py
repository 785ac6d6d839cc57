"""Disconnect soak: 20 forced drops while the market streams → no missing and no duplicate minute.

The fake market completes a minute every 10 ms (with corrections re-sent minutes later);
connections are dropped every ~120 ms, alternating an abrupt TCP abort (1006) and a
1011 close, so minutes pass unseen during every gap and must come back from the REST
backfill. The store must end equal to the ground truth: every minute present, none extra,
each with its final (corrected) values. The figures are printed for the README note.
"""

from __future__ import annotations

import statistics
import time

from backend.model import WatchItem
from backend.sources.base import SourceState
from backend.sources.polygon import PolygonSource
from fakes.harness import RunningPipeline, compare_with_truth, fast_polygon_config, stored_minutes, wait_until

DROPS = 20


def test_twenty_forced_disconnects_lose_and_duplicate_nothing(tmp_path, server_loop, ws, apis, market):
    server_loop.call(ws.tick(30))
    watch = [WatchItem(s, s) for s in market.symbols]
    source = PolygonSource(watch, "good-key", fast_polygon_config(ws.url, apis.url, tmp_path), clock=market.clock)
    with RunningPipeline(tmp_path / "s.sqlite", watch, [source]) as run:
        wait_until(lambda: source.status.state is SourceState.RUNNING)
        server_loop.call(ws.start_ticking(0.01))
        for n in range(DROPS):
            wait_until(lambda: source.status.state is SourceState.RUNNING and ws.conns)
            time.sleep(0.12)
            assert server_loop.call(ws.drop_all("abort" if n % 2 else "1011")) == 1
        wait_until(lambda: source.status.state is SourceState.RUNNING and source.status.reconnects == DROPS)
        time.sleep(0.1)
        server_loop.call(ws.stop_ticking())
        server_loop.call(ws.tick(2))  # corrections issued at the very end reach the stream too
        truth = market.truth()
        wait_until(lambda: compare_with_truth(stored_minutes(run.path, market.symbols), truth) == ([], [], []),
                   timeout=15)
        run.stop()
    stored = stored_minutes(tmp_path / "s.sqlite", market.symbols)
    missing, extra, wrong = compare_with_truth(stored, truth)
    assert (missing, extra, wrong) == ([], [], [])
    assert len(stored) == len(truth) and len(truth) > 500
    assert source.status.reconnects == DROPS and len(source.reconnect_times) == DROPS
    assert ws.auth_attempts == DROPS + 1
    assert source.backfilled_bars > 0, "gaps were filled from REST"
    sent_twice = sum(1 for k, n in source.published_minutes.items() if n > 1)
    times = sorted(source.reconnect_times)
    print(f"\nsoak: {DROPS} drops, {len(truth)} minutes in the truth, missing {len(missing)}, extra {len(extra)}, "
          f"wrong {len(wrong)}; reconnect p50 {statistics.median(times) * 1000:.1f} ms, "
          f"max {times[-1] * 1000:.1f} ms; {source.backfilled_bars} bars backfilled in {source.backfill_requests} "
          f"REST calls; {sent_twice} minutes sent more than once (corrections and overlap re-fetch: upserts)")
