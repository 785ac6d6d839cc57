"""The live feed's wiring: settings, environment overrides and keys."""

from __future__ import annotations

from backend.settings import Settings
from backend.sources.guardian import GuardianSource
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
