"""The one place a pipeline is assembled: the window, ``collect``, ``export`` and the mode switch all call :func:`build`.

A feed (:class:`FeedChoice`: the live providers, the synthetic demo, or a recorded replay) and a
mode (embedded, or the stack given by a :class:`StackConnection`) make one :class:`PipelineCore`.
Live data, the demo and each replay keep separate stores under ``TICKERWIRE_HOME`` — ``store.sqlite``,
``demo/store.sqlite``, ``replay/<session>/store.sqlite`` — so synthetic data never mixes with a
trader's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from backend.bus.security import PLAINTEXT, KafkaSecurity
from backend.model import WatchItem
from backend.pipeline.contract import SourceFactory
from backend.pipeline.core import PipelineCore
from backend.pipeline.embedded import EmbeddedProcessor
from backend.settings import Settings, tickerwire_home

MODES = ("embedded", "stack")


@dataclass(frozen=True, slots=True)
class FeedChoice:
    """How the pipeline is fed: ``demo`` (synthetic), ``replay`` (a recorded session) or ``live``."""

    kind: str = "demo"
    speed: float = 1.0
    replay_dir: Path | None = None

    @property
    def label(self) -> str:
        """What the window calls the data this feed stores."""
        return {"live": "live store", "demo": "demo store (synthetic market)"}.get(
            self.kind, f"replay store ({self.replay_dir.name if self.replay_dir else 'session'})")


@dataclass(frozen=True, slots=True)
class StackConnection:
    """Where a running stack is, with the credentials to use it (never logged: ``repr`` hides every secret).

    ``archive`` holds the pyiceberg catalog properties of the stack's archive (catalog, warehouse, S3
    endpoint and keys); empty for a stack without one. ``kafka_security`` is how every Kafka client
    of the pipeline logs in (TLS, SASL). A stack the app did not start (a remote profile) has
    ``create=False``: the pipeline creates no topic, database or bucket there, and says what is missing.
    """

    kafka_bootstrap: str
    influx_url: str
    influx_bucket: str
    influx_org: str = ""
    influx_token: str = ""
    archive: Mapping[str, str] = field(default_factory=dict)
    archive_where: str = ""
    run_sink: bool = True
    kafka_security: KafkaSecurity = PLAINTEXT
    create: bool = True

    def __repr__(self) -> str:
        return (f"StackConnection(kafka={self.kafka_bootstrap!r} ({self.kafka_security.describe()}), "
                f"influx={self.influx_url!r}, archive={self.archive_where!r})")


def data_dir(feed: FeedChoice, home: Path | None = None) -> Path:
    """The directory holding a feed's store and archive (live data directly in ``TICKERWIRE_HOME``)."""
    home = home or tickerwire_home()
    if feed.kind == "live":
        return home
    if feed.kind == "demo":
        return home / "demo"
    name = feed.replay_dir.name if feed.replay_dir else "session"
    return home / "replay" / name


def store_path(feed: FeedChoice, home: Path | None = None) -> Path:
    return data_dir(feed, home) / "store.sqlite"


def archive_path(feed: FeedChoice, home: Path | None = None) -> Path:
    return data_dir(feed, home) / "archive"


def source_factory(settings: Settings, feed: FeedChoice, home: Path | None = None) -> SourceFactory:
    """A factory the pipeline calls (on its own thread) with the watchlist to build its sources."""

    def build_sources(watchlist: list[WatchItem]):
        if feed.kind == "replay":
            from backend.sources.demo import ReplaySource

            return [ReplaySource(feed.replay_dir, speed=feed.speed, watchlist=watchlist)]
        if feed.kind == "demo":
            from backend.sources.demo import SyntheticSource, StoredMarket

            return [SyntheticSource(watchlist, seed=settings.get("demo_seed"), speed=feed.speed,
                                    history_days=settings.get("demo_history_days"),
                                    resume=StoredMarket(store_path(feed, home)))]
        if feed.kind == "live":
            from backend.sources.configure import live_sources

            return live_sources(settings, watchlist, home)
        raise ValueError(f"unknown feed {feed.kind!r}")

    return build_sources


def build(mode: str, settings: Settings, feed: FeedChoice, *, home: Path | None = None,
          stack: StackConnection | None = None, watchlist: list[WatchItem] | None = None) -> PipelineCore:
    """The pipeline for this mode, feed and settings (not started).

    Raises:
        ValueError: an unknown mode, or the stack mode without a :class:`StackConnection`.
        ImportError: the stack mode without the stack's client packages (the message names them).
    """
    home = home or tickerwire_home()
    watchlist = settings.watchlist if watchlist is None else watchlist
    sources = source_factory(settings, feed, home)
    if mode == "embedded":
        processor = EmbeddedProcessor(
            store_path(feed, home), store_label=feed.label,
            allowed_lateness_ms=settings.get("allowed_lateness_s") * 1000,
            archive_dir=archive_path(feed, home), hot_retention_days=settings.get("hot_retention_days"))
    elif mode == "stack":
        if stack is None:
            raise ValueError("the stack mode needs a running stack's connection (start it first)")
        from backend.pipeline.stack import StackProcessor
        from backend.stores.influx import InfluxSettings

        influx = InfluxSettings(url=stack.influx_url, token=stack.influx_token or "tickerwire:local",
                                org=stack.influx_org or "tickerwire", bucket=stack.influx_bucket,
                                retention_days=settings.get("hot_retention_days"),
                                create_bucket=stack.create and stack.run_sink)
        processor = StackProcessor(stack.kafka_bootstrap, influx, run_sink=stack.run_sink,
                                   open_archive=_archive_opener(stack), archive_where=stack.archive_where,
                                   security=stack.kafka_security, create_topics=stack.create)
    else:
        raise ValueError(f"unknown pipeline mode {mode!r}; choose one of {', '.join(MODES)}")
    return PipelineCore(processor, watchlist, sources)


def _archive_opener(stack: StackConnection):
    """Opens the stack's Iceberg archive on first use (pyiceberg is imported only then); None without one."""
    if not stack.archive:
        return None

    def open_archive():
        from backend.processing.archive_process import ArchiveProcess  # pyiceberg and pyarrow stay out of here

        return ArchiveProcess(properties=stack.archive)

    return open_archive
