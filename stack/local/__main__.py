"""Command line of the local stack: ``python -m stack.local prepare COMPONENT...``.

A tiny dispatcher: each component lives in its own module exposing
``prepare(cache: Path) -> Path``; add a line to :data:`COMPONENTS` for a new one.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from stack.local import cache_dir

#: component name -> module that implements ``prepare(cache)``.
COMPONENTS = {
    "kafka": "stack.local.kafka",
    "flink": "stack.local.flink",
    "influxdb": "stack.local.influxdb",
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the requested prepare steps; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m stack.local", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prepare = commands.add_parser("prepare", help="download and cache what a component needs (idempotent)")
    prepare.add_argument("components", nargs="+", choices=sorted(COMPONENTS), metavar="COMPONENT",
                         help=f"one or more of: {', '.join(sorted(COMPONENTS))}")
    args = parser.parse_args(argv)
    cache = cache_dir()
    for name in args.components:
        module = importlib.import_module(COMPONENTS[name])
        print(f"preparing {name} in {cache} ...", flush=True)
        location = module.prepare(cache)
        print(f"{name}: ready at {location}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
