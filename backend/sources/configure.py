"""Builds the live sources from settings, environment overrides and the API keys.

Hosts: ``TICKERWIRE_POLYGON_WS_URL``, ``TICKERWIRE_POLYGON_REST_URL`` and
``TICKERWIRE_GUARDIAN_URL`` win over the settings, which win over the providers' defaults
(the delayed or real-time websocket by the ``feed`` setting). Keys are read through
:func:`backend.secrets.get_key` each time a source needs one, so a key entered in the
settings dialog is picked up without a restart. Watermarks and the Guardian call count
live next to the store, in ``$TICKERWIRE_HOME``.
"""

from __future__ import annotations

import os
from pathlib import Path

from backend import secrets
from backend.model import WatchItem
from backend.settings import Settings, tickerwire_home
from backend.sources.guardian import DEFAULT_URL as GUARDIAN_URL
from backend.sources.guardian import GuardianConfig, GuardianSource
from backend.sources.polygon import DEFAULT_REST, DEFAULT_WS, PolygonConfig, PolygonSource

ENV_WS, ENV_REST, ENV_GUARDIAN = "TICKERWIRE_POLYGON_WS_URL", "TICKERWIRE_POLYGON_REST_URL", "TICKERWIRE_GUARDIAN_URL"


def polygon_config(settings: Settings, home: Path) -> PolygonConfig:
    feed = settings.get("feed")
    return PolygonConfig(
        ws_url=os.environ.get(ENV_WS) or settings.get("polygon_ws_url") or DEFAULT_WS[feed],
        rest_url=os.environ.get(ENV_REST) or settings.get("polygon_rest_url") or DEFAULT_REST,
        feed=feed,
        subscriptions=tuple(settings.get("subscriptions").split(",")),
        state_path=home / "polygon_state.json",
    )


def guardian_config(settings: Settings, home: Path) -> GuardianConfig:
    return GuardianConfig(
        base_url=os.environ.get(ENV_GUARDIAN) or settings.get("guardian_url") or GUARDIAN_URL,
        state_path=home / "guardian_state.json",
    )


def live_sources(settings: Settings, watchlist: list[WatchItem], home: Path | None = None) -> list:
    """The Polygon/Massive price source and the Guardian news source (a missing key shows as failed)."""
    home = home or tickerwire_home()
    return [
        PolygonSource(watchlist, lambda: secrets.get_key(secrets.POLYGON), polygon_config(settings, home)),
        GuardianSource(watchlist, lambda: secrets.get_key(secrets.GUARDIAN), guardian_config(settings, home)),
    ]
