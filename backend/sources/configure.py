"""Builds the live sources from settings, environment overrides and the API keys.

Hosts: ``TICKERWIRE_POLYGON_WS_URL``, ``TICKERWIRE_POLYGON_REST_URL`` and
``TICKERWIRE_GUARDIAN_URL`` win over the settings, which win over the providers' defaults
(the delayed or real-time websocket by the ``feed`` setting). The Guardian budget is
``TICKERWIRE_GUARDIAN_CALLS_PER_DAY`` or the ``guardian_calls_per_day`` setting. Keys are
read through :func:`backend.secrets.get_key` each time a source needs one, so a key entered
in the settings dialog is picked up without a restart. Watermarks, the Guardian call count
and the ticker names live next to the store, in ``$TICKERWIRE_HOME``.

A source whose module cannot be imported (a package missing from the install) is replaced by
an :class:`~backend.sources.live.UnavailableSource` that shows ``failed`` with the reason, so
the pipeline thread never dies of it and the other source keeps running.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from backend import secrets
from backend.model import WatchItem
from backend.settings import Settings, tickerwire_home
from backend.sources.live import UnavailableSource
from backend.sources.market_client import missing_message

log = logging.getLogger(__name__)

ENV_WS, ENV_REST, ENV_GUARDIAN = "TICKERWIRE_POLYGON_WS_URL", "TICKERWIRE_POLYGON_REST_URL", "TICKERWIRE_GUARDIAN_URL"
ENV_GUARDIAN_CALLS = "TICKERWIRE_GUARDIAN_CALLS_PER_DAY"
POLYGON_NAME, GUARDIAN_NAME = "Polygon/Massive", "Guardian news"


def polygon_rest_url(settings: Settings) -> str:
    from backend.sources.polygon import DEFAULT_REST

    return os.environ.get(ENV_REST) or settings.get("polygon_rest_url") or DEFAULT_REST


def polygon_config(settings: Settings, home: Path):
    from backend.sources.polygon import DEFAULT_WS, PolygonConfig

    feed = settings.get("feed")
    return PolygonConfig(
        ws_url=os.environ.get(ENV_WS) or settings.get("polygon_ws_url") or DEFAULT_WS[feed],
        rest_url=polygon_rest_url(settings),
        feed=feed,
        subscriptions=tuple(settings.get("subscriptions").split(",")),
        state_path=home / "polygon_state.json",
    )


def guardian_calls_per_day(settings: Settings) -> int:
    """The daily Guardian budget: the environment variable if it is a positive whole number, else the setting."""
    raw = os.environ.get(ENV_GUARDIAN_CALLS, "").strip()
    if raw:
        try:
            value = int(raw)
            if value >= 1:
                return value
        except ValueError:
            pass
        log.warning("%s=%r is not a positive whole number of calls; using the setting (%d)", ENV_GUARDIAN_CALLS,
                    raw, settings.get("guardian_calls_per_day"))
    return settings.get("guardian_calls_per_day")


def guardian_config(settings: Settings, home: Path):
    from backend.sources.guardian import DEFAULT_URL, GuardianConfig

    return GuardianConfig(
        base_url=os.environ.get(ENV_GUARDIAN) or settings.get("guardian_url") or DEFAULT_URL,
        daily_budget=guardian_calls_per_day(settings),
        state_path=home / "guardian_state.json",
    )


def reference_lookup(settings: Settings, home: Path):
    """Company names for the news queries, fetched with the Polygon/Massive key from the REST host."""
    from backend.sources.reference import ReferenceLookup, shared_cache

    return ReferenceLookup(shared_cache(home), lambda: secrets.get_key(secrets.POLYGON), polygon_rest_url(settings))


def _build(name: str, build):
    """``build()``, or a failed stand-in saying which package is missing."""
    try:
        return build()
    except ImportError as exc:
        reason = missing_message(f"the {name} source", str(exc))
        log.error("%s", reason)
        return UnavailableSource(name, reason)


def live_sources(settings: Settings, watchlist: list[WatchItem], home: Path | None = None) -> list:
    """The Polygon/Massive price source and the Guardian news source (a missing key or package shows as failed)."""
    home = home or tickerwire_home()

    def polygon():
        from backend.sources.polygon import PolygonSource

        return PolygonSource(watchlist, lambda: secrets.get_key(secrets.POLYGON), polygon_config(settings, home))

    def guardian():
        from backend.sources.guardian import GuardianSource

        return GuardianSource(watchlist, lambda: secrets.get_key(secrets.GUARDIAN), guardian_config(settings, home),
                              reference=reference_lookup(settings, home))

    return [_build(POLYGON_NAME, polygon), _build(GUARDIAN_NAME, guardian)]
