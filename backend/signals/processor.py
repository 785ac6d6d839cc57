"""The signals step of the embedded pipeline: impacts tracked and stored, alerts checked, per batch.

The pipeline's worker thread owns one :class:`SignalProcessor` next to its store and
calls :meth:`SignalProcessor.apply` after each batch's candles and articles are stored;
the results travel to listeners as ``PipelineUpdate.impacts`` and ``PipelineUpdate.alerts``.

For the GUI (through :class:`backend.pipeline.Pipeline`):

* ``pipeline.load_impacts(symbols, start_ms, end_ms)`` → a future of every stored
  :class:`~backend.signals.impact.NewsImpact` (for the "News impact" table);
  ``pipeline.load_impacts_for_article(article_id)`` → the impacts of one article
  (details panel). Live changes arrive in ``update.impacts``: replace by ``impact.key``.
* ``update.alerts`` holds new :class:`~backend.signals.alerts.Alert` s, oldest first.
* ``pipeline.set_alert_rules(rules, max_age_s)`` applies rules from settings
  (:func:`backend.signals.alerts.rules_from_settings`) and the ``alert_max_age_s`` setting.
"""

from __future__ import annotations

from typing import Sequence

from backend.model import Article, Candle, NewsImpact
from backend.signals.alerts import DEFAULT_RULES, Alert, AlertEngine, AlertRule
from backend.signals.impact import ImpactTracker
from backend.signals.impact_store import ImpactStore, StoreCandleHistory
from backend.stores.sqlite import SqliteStore


class SignalProcessor:
    """Impact tracker + impact table + alert engine over one store (worker thread only)."""

    def __init__(self, store: SqliteStore, rules: Sequence[AlertRule] = DEFAULT_RULES) -> None:
        history = StoreCandleHistory(store)
        self.impacts = ImpactStore(store)
        self._tracker = ImpactTracker(history)
        self._tracker.restore(self.impacts.unfinished())  # resume windows that were pending at shutdown
        self._alerts = AlertEngine(rules, history)

    def apply(self, candles: Sequence[Candle], articles: Sequence[Article],
              live: bool = True) -> tuple[list[NewsImpact], list[Alert]]:
        """Process one stored batch: return the impacts that changed (now persisted) and new alerts.

        Args:
            candles: The batch's candles (all timeframes; 1m ones are used).
            articles: The batch's stored (merged) articles.
            live: False while a source is catching up on history: impacts are computed,
                alerts are not raised.
        """
        impacts = self._tracker.apply(candles, articles)
        self.impacts.upsert(impacts)
        return impacts, self._alerts.apply(candles, articles, impacts, live)

    def set_rules(self, rules: Sequence[AlertRule], max_age_ms: int | None = None) -> None:
        self._alerts.set_rules(rules, max_age_ms)
