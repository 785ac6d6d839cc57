"""Test harness for the live sources: fast configs, a running pipeline, comparison with the truth."""

from __future__ import annotations

import time

from backend.model import Timeframe
from backend.sources.backoff import BackoffPolicy
from backend.sources.guardian import GuardianConfig
from backend.sources.polygon import PolygonConfig
from backend.stores.sqlite import SqliteStore


def fast_polygon_config(ws_url: str, rest_url: str, tmp_path, **changes) -> PolygonConfig:
    """Millisecond timings so the tests stay fast."""
    values = dict(ws_url=ws_url, rest_url=rest_url, backoff=BackoffPolicy(0.005, 0.05),
                  backfill_backoff=BackoffPolicy(0.01, 0.05), stable_after_s=0.5, connect_timeout_s=3.0,
                  ack_timeout_s=0.5, key_check_s=0.05, rest_timeout_s=2.0, rest_retries=0,
                  state_path=tmp_path / "polygon_state.json", track_published=True)
    values.update(changes)
    return PolygonConfig(**values)


def fast_guardian_config(url: str, tmp_path, **changes) -> GuardianConfig:
    values = dict(base_url=url, calls_per_second=500.0, min_interval_s=0.05, daily_budget=100_000,
                  backoff=BackoffPolicy(0.01, 0.05), timeout_s=0.5, key_check_s=0.05,
                  state_path=tmp_path / "guardian_state.json")
    values.update(changes)
    return GuardianConfig(**values)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):
    """Poll ``predicate`` until truthy; fail the test with its last value otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


class RunningPipeline:
    """A real embedded pipeline around given sources, with a store in ``tmp_path``."""

    def __init__(self, path, watchlist, sources):
        self.path = path
        self.sources = sources
        from helpers import embedded_pipeline

        self.pipeline = embedded_pipeline(path, watchlist, lambda items: sources)

    def __enter__(self):
        self.pipeline.start()
        return self

    def stop(self):
        """Stop as the app does: sources hand over what they hold, it is stored, then the store closes."""
        self.pipeline.stop(timeout=15)
        for s in self.sources:
            assert s.wait_stopped(1), f"{s.name} did not stop"

    def __exit__(self, *exc):
        if not self.pipeline.stopped.is_set():
            self.stop()


def stored_minutes(path, symbols) -> dict:
    store = SqliteStore(path)
    try:
        return {(s, c.start_ms): c for s in symbols for c in store.candles(s, Timeframe.M1)}
    finally:
        store.close()


def compare_with_truth(stored: dict, truth: dict) -> tuple[list, list, list]:
    """(missing minutes, extra minutes, minutes whose values differ from the final truth)."""
    missing = sorted(k for k in truth if k not in stored)
    extra = sorted(k for k in stored if k not in truth)
    wrong = sorted(k for k, bar in truth.items() if k in stored and _differs(stored[k], bar))
    return missing, extra, wrong


def _differs(candle, bar) -> bool:
    return ((candle.open, candle.high, candle.low, candle.close, candle.volume, candle.trades)
            != (bar["o"], bar["h"], bar["l"], bar["c"], bar["v"], bar["n"]))
