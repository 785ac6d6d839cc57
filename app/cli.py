"""``tickerwire`` command line: the GUI (default) and the ``export``, ``collect`` and ``stack`` subcommands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from backend import gc_policy
from backend.model import Timeframe, validate_ticker
from backend.pipeline.runtime import MODES
from backend.timeutil import parse_iso


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _feed_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """Where the data comes from and which pipeline runs it: accepted before or after a subcommand."""
    default = (lambda value: value) if top else (lambda value: argparse.SUPPRESS)
    parser.add_argument("--pipeline", choices=MODES, default=default("embedded"),
                        help="embedded (in-process, the default) or stack (the running Docker stack: "
                             "`tickerwire stack up`)")
    parser.add_argument("--demo", action="store_true", default=default(False),
                        help="use the synthetic demo market (default without keys); its data has a store of its own")
    parser.add_argument("--replay", type=Path, metavar="DIR", default=default(None),
                        help="replay a recorded session directory (a store of its own)")
    parser.add_argument("--speed", type=_positive, default=default(None), help="demo/replay speed, × real time")
    parser.add_argument("--stack-profile", metavar="NAME", default=default(None),
                        help="with --pipeline stack: the remote stack of this profile (a team's server, managed "
                             "Kafka), not this machine's; default: the `stack_profile` setting")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickerwire", description="Live candles and the news that moves them.")
    _feed_options(parser, top=True)
    parser.add_argument("--exit-after", type=_positive, metavar="SECONDS", help="quit after this many seconds")
    parser.add_argument("--screenshot", type=Path, metavar="PATH", help="save a PNG of the window just before exiting")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command")
    collect = sub.add_parser("collect", help="run the pipeline without a window (SIGINT/SIGTERM stop it)")
    _feed_options(collect, top=False)
    collect.add_argument("--watch", metavar="AAPL,AMZN", help="symbols to collect (default: the watchlist)")
    collect.add_argument("--exit-after", dest="collect_exit_after", type=_positive, metavar="SECONDS")
    collect.add_argument("--health-port", type=int, metavar="PORT",
                         help="serve /healthz on 127.0.0.1:PORT (200 while collecting, 503 with the reason when the "
                              "pipeline died or Kafka does not answer)")
    from stack.cli import add_parser as add_stack_parser  # the stack's own command line (stack/cli.py)

    add_stack_parser(sub)
    export = sub.add_parser("export", help="export candles or news from the store")
    what = export.add_subparsers(dest="what", required=True)
    candles = what.add_parser("candles")
    candles.add_argument("--symbol", required=True)
    candles.add_argument("--timeframe", default="1m", choices=[t.value for t in Timeframe])
    news = what.add_parser("news")
    for p, formats in ((candles, ("csv", "parquet")), (news, ("csv", "json"))):
        _feed_options(p, top=False)
        p.add_argument("--start", help="ISO 8601 start (inclusive), e.g. 2025-02-03T14:30Z")
        p.add_argument("--end", help="ISO 8601 end (exclusive)")
        p.add_argument("--format", required=True, choices=formats)
        p.add_argument("--output", type=Path, help="file to write (default: standard output)")
    return parser


def feed_choice(args, live: bool) -> "FeedChoice":
    """The feed the options ask for: a replay, the demo, else live data (``live``: keys are set)."""
    from backend.pipeline.runtime import FeedChoice

    if args.replay:
        return FeedChoice("replay", speed=args.speed or 1.0, replay_dir=args.replay)
    if args.demo or not live:
        return FeedChoice("demo", speed=args.speed or 1.0)
    return FeedChoice("live")


def stack_connection(args):
    """The stack's connection when ``--pipeline stack``; None for the embedded pipeline.

    A remote profile (``--stack-profile``, else the ``stack_profile`` setting) when one is named, else the
    Docker stack this machine runs.

    Raises:
        ValueError: the profile is unknown or the stack is not running (the message says why and what to do).
    """
    if args.pipeline != "stack":
        if args.stack_profile:
            raise ValueError("--stack-profile needs --pipeline stack")
        return None
    from app.stack_mode import remote_connection, running_connection
    from backend.settings import Settings, tickerwire_home

    name = args.stack_profile or Settings(tickerwire_home() / "settings.json").get("stack_profile")
    return remote_connection(name) if name else running_connection()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    gc_policy.apply()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "export":
        return _export(args)
    if args.command == "stack":
        from stack.cli import run as run_stack

        return run_stack(args)
    if args.command == "collect":
        from backend.collect import CollectError, collect

        try:
            return collect(args.watch, args.collect_exit_after or args.exit_after,
                           feed=feed_choice(args, live=True), stack=stack_connection(args),
                           health_port=args.health_port)
        except (CollectError, ValueError) as exc:
            print(f"tickerwire collect: {exc}", file=sys.stderr)
            return 2
    from app.gui import run_gui  # Qt is imported only for the GUI

    return run_gui(args)


def _export(args) -> int:
    from backend.export import ExportError, export_candles, export_news
    from backend.stores.base import StoreError

    try:
        start = parse_iso(args.start) if args.start else None
        end = parse_iso(args.end) if args.end else None
        store, archiver = _stack_store(stack_connection(args)) if args.pipeline == "stack" else _local_store(args)
        out = args.output if args.output else sys.stdout
        try:
            if args.what == "candles":
                n = export_candles(store, validate_ticker(args.symbol), Timeframe(args.timeframe), start, end,
                                   args.format, out, archiver=archiver)
            else:
                n = export_news(store, start, end, args.format, out)
        finally:
            store.close()
    except (ExportError, StoreError, ValueError) as exc:
        print(f"tickerwire export: {exc}", file=sys.stderr)
        return 2
    print(f"exported {n} rows", file=sys.stderr)
    return 0


def _local_store(args):
    """The embedded store of the feed the options name (live data, the demo's, a replay's) and its archive."""
    from backend.export import ExportError
    from backend.pipeline.runtime import archive_path, store_path
    from backend.stores.sqlite import SqliteStore

    feed = feed_choice(args, live=True)
    path = store_path(feed)
    if not path.exists():
        raise ExportError(f"no {feed.label} at {path}: run the app first "
                          f"(TICKERWIRE_HOME={os.environ.get('TICKERWIRE_HOME', '')})")
    archive = archive_path(feed)
    archiver = _archiver(lambda: _open_archive(local=archive), str(archive)) if archive.exists() else None
    return SqliteStore(path, readonly=True), archiver


def _stack_store(connection):
    """The running stack's InfluxDB (read, nothing created) and its archive."""
    from backend.stores.influx import InfluxSettings, InfluxStore

    store = InfluxStore(InfluxSettings(url=connection.influx_url, token=connection.influx_token or "tickerwire:local",
                                       org=connection.influx_org or "tickerwire", bucket=connection.influx_bucket,
                                       retention_days=None, create_bucket=False))
    archiver = None
    if connection.archive:
        archiver = _archiver(lambda: _open_archive(properties=connection.archive), connection.archive_where)
    return store, archiver


def _archiver(open_archive, where: str):
    """An archiver to read from, or None (saying why) when pyiceberg is missing."""
    from backend.processing.archiver import Archiver

    archiver = Archiver(open_archive, where)
    if not archiver.enabled:
        print(f"tickerwire export: {archiver.problem}; only the hot store is read", file=sys.stderr)
        return None
    return archiver


def _open_archive(local: Path | None = None, properties=None):
    from backend.stores.iceberg_archive import IcebergArchive

    return IcebergArchive.local(local) if local is not None else IcebergArchive.from_properties(properties)


if __name__ == "__main__":
    sys.exit(main())
