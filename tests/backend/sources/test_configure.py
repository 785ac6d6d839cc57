"""The live feed's wiring: settings, environment overrides and keys."""

from __future__ import annotations

import sys

import pytest

from backend.settings import Settings, SettingsError
from backend.sources.base import SourceState
from backend.sources.guardian import GuardianSource
from backend.sources.live import UnavailableSource
from backend.sources.polygon import PolygonSource
from backend.pipeline.runtime import FeedChoice, source_factory


def test_live_feed_builds_both_sources_with_env_overrides(tmp_path, monkeypatch):
    settings = Settings(tmp_path / "settings.json")
    settings.update({"feed": "realtime", "subscriptions": "AM,A"})
    built = source_factory(settings, FeedChoice("live"))(settings.watchlist)
    polygon, guardian = built
    assert isinstance(polygon, PolygonSource) and isinstance(guardian, GuardianSource)
    assert polygon.config.ws_url == "wss://socket.polygon.io/stocks" and polygon.config.subscriptions == ("AM", "A")
    monkeypatch.setenv("TICKERWIRE_POLYGON_WS_URL", "wss://delayed.massive.com/stocks")
    monkeypatch.setenv("TICKERWIRE_POLYGON_REST_URL", "https://api.massive.com")
    monkeypatch.setenv("TICKERWIRE_GUARDIAN_URL", "http://127.0.0.1:9/")
    polygon, guardian = source_factory(settings, FeedChoice("live"))(settings.watchlist)
    assert polygon.config.ws_url == "wss://delayed.massive.com/stocks"
    assert polygon.config.rest_url == "https://api.massive.com"
    assert guardian.config.base_url == "http://127.0.0.1:9/"
    assert polygon._key() == "" and guardian._key() == ""  # no keys in the test environment


def test_guardian_budget_comes_from_the_setting_or_the_environment(tmp_path, monkeypatch, caplog):
    settings = Settings(tmp_path / "settings.json")
    guardian = source_factory(settings, FeedChoice("live"))(settings.watchlist)[1]
    assert guardian.config.daily_budget == 500  # a developer key
    settings.set("guardian_calls_per_day", 20_000)
    assert source_factory(settings, FeedChoice("live"))(settings.watchlist)[1].config.daily_budget == 20_000
    monkeypatch.setenv("TICKERWIRE_GUARDIAN_CALLS_PER_DAY", "5000")
    assert source_factory(settings, FeedChoice("live"))(settings.watchlist)[1].config.daily_budget == 5000
    monkeypatch.setenv("TICKERWIRE_GUARDIAN_CALLS_PER_DAY", "lots")
    assert source_factory(settings, FeedChoice("live"))(settings.watchlist)[1].config.daily_budget == 20_000
    assert "not a positive whole number" in caplog.text
    with pytest.raises(SettingsError, match="at least 1"):
        settings.set("guardian_calls_per_day", 0)


def test_a_source_whose_package_is_missing_is_shown_failed_and_the_other_runs(tmp_path, monkeypatch):
    """httpx missing: the Guardian source is a failed stand-in naming the package; the pipeline thread lives."""
    from fakes.harness import RunningPipeline, wait_until

    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "backend.sources.guardian", raising=False)
    settings = Settings(tmp_path / "settings.json")
    polygon, guardian = source_factory(settings, FeedChoice("live"))(settings.watchlist)
    assert isinstance(polygon, PolygonSource) and isinstance(guardian, UnavailableSource)
    assert guardian.status.state is SourceState.FAILED and guardian.name == "Guardian news"
    assert "httpx" in guardian.status.detail and "pip install -e ." in guardian.status.detail
    with RunningPipeline(tmp_path / "s.sqlite", settings.watchlist, [guardian]) as run:
        wait_until(lambda: run.pipeline.statuses()[0].state is SourceState.FAILED)
        run.stop()
