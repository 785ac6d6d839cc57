"""``tickerwire`` command line: the GUI (default) and the ``export`` and ``collect`` subcommands."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from backend.model import Timeframe, validate_ticker
from backend.timeutil import parse_iso


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tickerwire", description="Live candles and the news that moves them.")
    parser.add_argument("--demo", action="store_true", help="use the synthetic demo market (default without keys)")
    parser.add_argument("--replay", type=Path, metavar="DIR", help="replay a recorded session directory")
    parser.add_argument("--speed", type=_positive, default=None, help="demo/replay speed, × real time")
    parser.add_argument("--exit-after", type=_positive, metavar="SECONDS", help="quit after this many seconds")
    parser.add_argument("--screenshot", type=Path, metavar="PATH", help="save a PNG of the window just before exiting")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command")
    collect = sub.add_parser("collect", help="run the live pipeline without a window (SIGINT/SIGTERM stop it)")
    collect.add_argument("--watch", metavar="AAPL,AMZN", help="symbols to collect (default: the watchlist)")
    collect.add_argument("--exit-after", dest="collect_exit_after", type=_positive, metavar="SECONDS")
    export = sub.add_parser("export", help="export candles or news from the store")
    what = export.add_subparsers(dest="what", required=True)
    candles = what.add_parser("candles")
    candles.add_argument("--symbol", required=True)
    candles.add_argument("--timeframe", default="1m", choices=[t.value for t in Timeframe])
    news = what.add_parser("news")
    for p, formats in ((candles, ("csv", "parquet")), (news, ("csv", "json"))):
        p.add_argument("--start", help="ISO 8601 start (inclusive), e.g. 2025-02-03T14:30Z")
        p.add_argument("--end", help="ISO 8601 end (exclusive)")
        p.add_argument("--format", required=True, choices=formats)
        p.add_argument("--output", type=Path, help="file to write (default: standard output)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "export":
        return _export(args)
    if args.command == "collect":
        from backend.collect import CollectError, collect

        try:
            return collect(args.watch, args.collect_exit_after or args.exit_after)
        except CollectError as exc:
            print(f"tickerwire collect: {exc}", file=sys.stderr)
            return 2
    from app.gui import run_gui  # Qt is imported only for the GUI

    return run_gui(args)


def _export(args) -> int:
    from backend.export import ExportError, export_candles, export_news
    from backend.pipeline.runtime import FeedChoice, archive_path, store_path
    from backend.processing.archiver import Archiver
    from backend.stores.sqlite import SqliteStore

    try:
        start = parse_iso(args.start) if args.start else None
        end = parse_iso(args.end) if args.end else None
        feed = (FeedChoice("replay", replay_dir=args.replay) if args.replay
                else FeedChoice("demo") if args.demo else FeedChoice("live"))
        path = store_path(feed)
        if not path.exists():
            raise ExportError(f"no {feed.label} at {path}: run the app first "
                              f"(TICKERWIRE_HOME={os.environ.get('TICKERWIRE_HOME', '')})")
        store = SqliteStore(path, readonly=True)
        out = args.output if args.output else sys.stdout
        if args.what == "candles":
            archiver = _local_archiver(archive_path(feed), Archiver)
            n = export_candles(store, validate_ticker(args.symbol), Timeframe(args.timeframe), start, end,
                               args.format, out, archiver=archiver)
        else:
            n = export_news(store, start, end, args.format, out)
    except (ExportError, ValueError) as exc:
        print(f"tickerwire export: {exc}", file=sys.stderr)
        return 2
    print(f"exported {n} rows", file=sys.stderr)
    return 0


def _local_archiver(path: Path, archiver_class):
    """The embedded archive at ``path`` if it exists; None (hot store only) otherwise, saying why if it matters."""
    if not path.exists():
        return None
    archiver = archiver_class(lambda: _open_local_archive(path), str(path))
    if not archiver.enabled:
        print(f"tickerwire export: {archiver.problem}; only the hot store is read", file=sys.stderr)
        return None
    return archiver


def _open_local_archive(path: Path):
    from backend.stores.iceberg_archive import IcebergArchive

    return IcebergArchive.local(path)


if __name__ == "__main__":
    sys.exit(main())
