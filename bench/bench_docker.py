"""The Docker stack: ``stack up`` times, and the Kafka → Flink figures measured inside the containers.

Run: ``.venv/bin/python -m bench.bench_docker`` (a Docker engine, ``DOCKER_HOST``; the images are built
when missing — ``--cold`` removes the project's images and the builder cache first, to time a cold start).

1. ``stack up`` from nothing to every service healthy (a bench stack of its own, ``twbench``, on free
   ports), and again after ``stack down`` (images built, volumes kept) — then the first live candle a stack
   pipeline receives (what the window shows after the Stack tab's Start), counted from the ``stack up``.
1b. The window on the stack (offscreen): message → painted pixel with 50 demo symbols at 100× (5,000
   second bars a second), as :mod:`bench.bench_app` measures it embedded.
2. Flink input inside the containers, as ``bench.bench_kafka`` measures it on the local cluster: a backlog
   of bars produced to the stack's ``stock-prices`` topic (its producer rate is reported too) before the
   candle job's client starts; first and last candle on ``candles``; sustained rate over the second half.
3. End-to-end lag at 5,000 msgs/s: the app's producer on the host → Kafka in its container → the
   candle job on the TaskManager → the ``candles`` topic → a consumer on the host.

Prints a table and writes ``bench/results/docker.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import tempfile
import time
from pathlib import Path

from backend.bus.kafka import CANDLES, PRICES, KafkaPublisher
from bench.bench_kafka import (
    FLINK_SYMBOLS, _candle_consumer, backlog_result, backlog_sentinel, bench_lag, iter_bars, publisher_payload,
    time_backlog,
)
from bench.common import save

#: Services the backlog is produced before (the candle job's client starts after it).
BEFORE_JOB = ("catalog", "s3", "kafka", "influxdb", "flink-jobmanager", "flink-taskmanager")


def make_backend(home: Path):
    """The bench stack: its own name, free ports, its own credentials file under ``home``."""
    from stack.docker_backend import DockerBackend, spec_from_environment
    from stack.local import free_ports
    from stack.plan.spec import Ports

    spec = spec_from_environment(name="twbench", ports=Ports(*free_ports(6)))
    return DockerBackend(spec, home=home, health_timeout_s=900)


def remove_images() -> None:
    """Remove the project's images and the engine's build cache (a cold start)."""
    from stack.build import IMAGE_LABEL
    from stack.engine import connect

    client = connect()
    try:
        for image in client.images.list(filters={"label": IMAGE_LABEL}):
            client.images.remove(image.id, force=True)
        client.api.prune_builds()
        client.images.prune(filters={"dangling": True})
    finally:
        client.close()


def timed_up(backend) -> dict:
    """``stack up`` through the command line's code: seconds, and the longest silence in its output."""
    import io

    from stack.cli import run

    times: list[float] = []

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            times.extend(time.monotonic() for _ in range(text.count("\n")))
            return super().write(text)

    out = Out()
    started = time.monotonic()
    status = run(argparse.Namespace(stack_command="up", timeout=900.0, base_image=None, build_ca=None),
                 out=out, err=out, backend=backend)
    seconds = time.monotonic() - started
    if status != 0:
        raise RuntimeError(f"stack up failed:\n{out.getvalue()[-4000:]}")
    gaps = [b - a for a, b in zip([started, *times], times)]
    return {"seconds": round(seconds, 1), "lines": len(times), "longest_silence_s": round(max(gaps), 1)}


def bench_flink_in_containers(backend, n: int) -> dict:
    """Stop the candle job's client, produce the backlog, start the client again: the job (state and offsets
    of an empty group) reads the backlog from the start."""
    from stack.apply import DockerStack

    plan = backend.plan
    partial = dataclasses.replace(plan, containers=tuple(c for c in plan.containers if c.service in BEFORE_JOB))
    full = dataclasses.replace(plan, containers=tuple(c for c in plan.containers
                                                      if c.service in (*BEFORE_JOB, "flink-job")))
    creds = backend.access().credentials
    stack_of = lambda p: DockerStack(p, backend.tree, lambda: creds, health_timeout_s=900)  # noqa: E731
    stack_of(partial).apply()
    bootstrap = backend.endpoints().kafka_bootstrap
    publisher = KafkaPublisher(bootstrap)
    sentinel = backlog_sentinel()
    produced = time.perf_counter()
    for bar in itertools.chain(iter_bars(n, FLINK_SYMBOLS, prefix="F"), [sentinel]):
        publisher.produce(PRICES, bar.symbol, publisher_payload(bar))
    publisher.flush(300)
    producer_s = time.perf_counter() - produced
    consumer = _candle_consumer(bootstrap, "bench-input", CANDLES)
    started = time.perf_counter()
    first, last, minute_seen = time_backlog(lambda: stack_of(full).apply(), lambda: backend.logs("flink-taskmanager"),
                                            consumer, sentinel)
    result = backlog_result(n, started, first, last, minute_seen)
    result["producer_msgs_per_s"] = round((n + 1) / producer_s)
    return result


def first_live_candle(backend) -> float:
    """Seconds from a stack pipeline's start (right after ``stack up``, as the Stack tab switches to it) to
    its first live candle from the stack's job."""
    import threading

    from app.stack_mode import connection_from
    from backend.pipeline.runtime import FeedChoice, build
    from backend.settings import Settings
    from backend.watchlist import default_watch_item

    with tempfile.TemporaryDirectory() as home:
        settings = Settings(Path(home) / "settings.json")
        settings.set("watchlist", [default_watch_item("AAPL")])
        settings.set("demo_history_days", 0)
        pipeline = build("stack", settings, FeedChoice("demo", speed=1), home=Path(home),
                         stack=connection_from(backend.access()))
        seen = threading.Event()
        pipeline.add_listener(lambda update: update.candles and seen.set())
        started = time.monotonic()
        pipeline.start()
        try:
            if not seen.wait(300):
                raise RuntimeError("no live candle within 300 s of the pipeline's start")
            return time.monotonic() - started
        finally:
            pipeline.stop()


def message_to_pixel_in_stack_mode(backend, symbols: int, speed: float) -> dict:
    """The window on the stack (offscreen), fed ``symbols`` × ``speed`` second bars a second: see
    :func:`bench.bench_app.message_to_pixel`. The stack is brought up first (images built, volumes kept)."""
    from app.stack_mode import connection_from
    from bench.bench_app import message_to_pixel

    timed_up(backend)
    return message_to_pixel(seconds=90.0, stack=connection_from(backend.access()), symbols=symbols, speed=speed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="remove the project's images first (a cold start)")
    parser.add_argument("--flink-bars", type=int, default=4_000_000)
    parser.add_argument("--lag-rate", type=int, default=5_000)
    parser.add_argument("--lag-seconds", type=int, default=30)
    parser.add_argument("--pixel-symbols", type=int, default=50, help="window on the stack: demo symbols")
    parser.add_argument("--pixel-speed", type=float, default=100.0,
                        help="demo speed (symbols × speed second bars a second: 5,000 by default)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-docker-") as tmp:
        backend = make_backend(Path(tmp))
        backend.stop(delete_data=True)
        try:
            if args.cold:
                remove_images()
            first_up = timed_up(backend)
            backend.stop(delete_data=False)
            warm_up = timed_up(backend)
            warm_up["first_live_candle_s"] = round(warm_up["seconds"] + first_live_candle(backend), 1)
            backend.stop(delete_data=False)
            pixel = message_to_pixel_in_stack_mode(backend, args.pixel_symbols, args.pixel_speed)
            backend.stop(delete_data=True)  # a fresh stack: empty topics, no checkpoints, the job not started
            flink = bench_flink_in_containers(backend, args.flink_bars)
            lag = bench_lag(backend.endpoints().kafka_bootstrap, args.lag_rate, args.lag_seconds, PRICES, CANDLES)
        finally:
            backend.stop(delete_data=True)
    rows = [
        (f"stack up, {'cold (nothing built)' if args.cold else 'images built, new volumes'} (s)",
         first_up["seconds"], "-"),
        ("stack up after stack down (s)", warm_up["seconds"], "-"),
        ("longest silence in stack up's output (s)", first_up["longest_silence_s"], "-"),
        ("producer into the container's Kafka (msgs/s)", flink["producer_msgs_per_s"], ">= 100,000"),
        ("Flink input in containers, whole backlog (bars/s)", flink["bars_per_s"], "-"),
        ("Flink input in containers, sustained (bars/s)", flink["sustained_bars_per_s"], ">= 100,000"),
        (f"end-to-end lag p50 at {lag['achieved_rate']}/s (s)", lag["p50_s"], "-"),
        (f"end-to-end lag p99 at {lag['achieved_rate']}/s (s)", lag["p99_s"], "<= 1.5"),
        ("first live candle after stack up, images built (s)", warm_up["first_live_candle_s"], "<= 60"),
        (f"window on the stack: message to pixel p50 at {pixel['offered_second_bars_per_s']}/s (ms)",
         pixel["message_to_pixel"]["median_ms"], "-"),
        (f"window on the stack: message to pixel p99 at {pixel['offered_second_bars_per_s']}/s (ms)",
         pixel["message_to_pixel"]["p99_ms"], "<= 1500"),
    ]
    print(f"{'measure':<52} {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<52} {value:>12}  {target}")
    print(f"Flink input by tenth of the backlog (bars/s): {flink['bars_per_s_by_tenth']}")
    load = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    print(f"load average before/after (1, 5, 15 min): {load['before']} / {load['after']} on {os.cpu_count()} cores")
    path = save("docker", {"stack_up": first_up, "stack_up_after_down": warm_up, "cold": args.cold,
                           "flink_input": flink, "lag": lag, "message_to_pixel": pixel,
                           "load_average": load})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
