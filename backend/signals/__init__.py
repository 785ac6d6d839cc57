"""Signals computed from candles and news: news impact, alerts, and news-to-symbol relevance.

* :mod:`backend.signals.impact` — what the price and volume did after each article
  (:class:`~backend.signals.impact.NewsImpact`), as a pure function of candles and
  the :class:`~backend.signals.impact.ImpactTracker` that keeps it up to date.
* :mod:`backend.signals.baseline` — the time-of-day volume baseline (z-scores) both use.
* :mod:`backend.signals.impact_store` — impacts persisted in the SQLite hot store.
* :mod:`backend.signals.processor` — the pipeline's per-batch step (impacts, storage, alerts).
* :mod:`backend.signals.alerts` — :class:`~backend.signals.alerts.AlertRule` s and the
  :class:`~backend.signals.alerts.AlertEngine` that raises :class:`~backend.signals.alerts.Alert` s.
* :mod:`backend.signals.relevance` — why an article matched a symbol, and whether it is
  about the company or a namesake.

Nothing here imports Qt; all of it runs on the pipeline's worker thread.
"""
