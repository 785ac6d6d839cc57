"""Chooses the pipeline's sources from settings, keys and command-line flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.model import WatchItem
from backend.pipeline import Pipeline, SourceFactory
from backend.settings import Settings, tickerwire_home
from backend.sources.demo import ReplaySource, SyntheticSource

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


@dataclass(frozen=True, slots=True)
class FeedChoice:
    """How the pipeline is fed: ``demo`` (synthetic), ``replay`` (a recorded session) or ``live``."""

    kind: str = "demo"
    speed: float = 1.0
    replay_dir: Path | None = None


def source_factory(settings: Settings, feed: FeedChoice) -> SourceFactory:
    """A factory the pipeline calls (on its own thread) with the watchlist to build its sources."""

    def build(watchlist: list[WatchItem]):
        if feed.kind == "replay":
            return [ReplaySource(feed.replay_dir, speed=feed.speed)]
        if feed.kind == "demo":
            return [SyntheticSource(watchlist, seed=settings.get("demo_seed"), speed=feed.speed,
                                    history_days=settings.get("demo_history_days"))]
        if feed.kind == "live":
            from backend.sources.configure import live_sources  # polygon-api-client and httpx: the live extra

            return live_sources(settings, watchlist)
        raise ValueError(f"unknown feed {feed.kind!r}")

    return build


def store_path(home: Path | None = None) -> Path:
    return (home or tickerwire_home()) / "store.sqlite"


def archive_path(home: Path | None = None) -> Path:
    return (home or tickerwire_home()) / "archive"


def build_pipeline(settings: Settings, feed: FeedChoice, home: Path | None = None) -> Pipeline:
    """The embedded pipeline for these settings (not started)."""
    return Pipeline(store_path(home), settings.watchlist, source_factory(settings, feed),
                    allowed_lateness_ms=settings.get("allowed_lateness_s") * 1000,
                    archive_dir=archive_path(home), hot_retention_days=settings.get("hot_retention_days"))
