"""The signals step inside the embedded pipeline: the demo feed yields stored impacts and alerts."""

from __future__ import annotations

import threading
import time

from helpers import embedded_pipeline

from backend.model import Timeframe
from backend.pipeline import PipelineUpdate
from backend.signals.alerts import RuleKind
from backend.signals.impact import compute_impact
from backend.signals.impact_store import ImpactStore
from backend.sources.demo import SyntheticSource, demo_start_ms
from backend.stores.sqlite import SqliteStore
from backend.watchlist import default_watch_item


class Updates:
    def __init__(self) -> None:
        self.items: list[PipelineUpdate] = []
        self._cv = threading.Condition()

    def __call__(self, update: PipelineUpdate) -> None:
        with self._cv:
            self.items.append(update)
            self._cv.notify_all()

    def wait_for(self, predicate, timeout=60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cv:
            while not predicate(self.items):
                left = deadline - time.monotonic()
                assert left > 0, "condition not reached in time"
                self._cv.wait(left)


def test_demo_feed_produces_final_impacts_that_match_the_pure_function_and_alerts(tmp_path):
    path = tmp_path / "store.sqlite"
    start = demo_start_ms(1764345600000)  # a fixed instant: the demo is deterministic
    watchlist = [default_watch_item("AAPL"), default_watch_item("NFLX")]
    pipeline = embedded_pipeline(path, watchlist, lambda items: [SyntheticSource(items, seed=1, speed=400, history_days=4,
                                                                        start_ms=start)])
    got = Updates()
    pipeline.add_listener(got)
    pipeline.start()
    try:
        got.wait_for(lambda us: sum(1 for u in us for i in u.impacts if i.final and i.window(60).volume_z is not None)
                     >= 2 and any(a.rule.kind is RuleKind.NEW_ARTICLE for u in us for a in u.alerts))
        stored = pipeline.load_impacts().result()
        articles = {a.id: a for a in pipeline.load_articles().result()}
    finally:
        pipeline.stop()
    assert stored and {i.article_id for i in stored} <= set(articles)
    final = [i for i in stored if i.final and i.window(60).volume_z is not None]
    assert final
    store = SqliteStore(path)
    try:
        assert ImpactStore(store).load() == stored  # persisted, and the same after a restart
        for impact in final[:5]:
            candles = store.candles(impact.symbol, Timeframe.M1)
            assert impact == compute_impact(impact.article_id, impact.symbol, impact.published_ms, candles)
    finally:
        store.close()
    alerts = [a for u in got.items for a in u.alerts]
    assert all(a.at_ms >= start - 20 * 60_000 for a in alerts)  # nothing from the history catch-up storms
    print(f"{len(stored)} impacts ({len(final)} final with a volume z-score), {len(alerts)} alerts, e.g. "
          f"{alerts[0].message!r}")
