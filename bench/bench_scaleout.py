"""The candle job scaled out: its throughput at parallelism 1 and 2 in one run, on a Docker stack with two
TaskManagers (two slots each) and a four-partition ``stock-prices``.

Run: ``.venv/bin/python -m bench.bench_scaleout [--bars N]`` (a Docker engine, ``DOCKER_HOST``). Prints JSON.

A bench stack of its own (``twbenchscale``, free ports; one broker, no archive, no job clients) gets a
backlog of ``N`` second bars over 500 symbols; then the candle job is submitted with
``tickerwire stack deploy-jobs``'s code at parallelism 1, and, once it has read the backlog, again at
parallelism 2 (a fresh consumer group and its own candles topic, so each run reads the whole backlog;
the first run stays submitted, idle). A run's rate is the backlog's bars over the time from its first
candle to the moment every symbol's last minute has a candle (a symbol's bars are on one partition, in
order, so by then every bar was read): job start-up is left out. The per-slot rate feeds the capacity
table in the README.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from backend.bus.kafka import PRICES, KafkaPublisher, TopicSpec, ensure_topics
from bench.bench_kafka import FLINK_SYMBOLS, T0, _candle_consumer, iter_bars, publisher_payload
from bench.common import save

STACK = "twbenchscale"


def make_backend(home: Path):
    """The bench stack: two TaskManagers of two slots, four price partitions, on free ports."""
    from dataclasses import fields

    from stack.docker_backend import DockerBackend, spec_from_environment
    from stack.local import free_ports
    from stack.plan.spec import Ports

    spec = spec_from_environment(name=STACK, ports=Ports(*free_ports(len(fields(Ports)))), taskmanagers=2,
                                 taskmanager_slots=2, parallelism=2, price_partitions=4, with_archive=False,
                                 with_jobs=False)
    return DockerBackend(spec, home=home, health_timeout_s=900, supervise=False)


def run_candle_job(backend, image: str, parallelism: int, n: int, minutes: int) -> dict:
    """Submit the candle job at ``parallelism`` on its own group and candles topic; time the backlog."""
    import docker

    from stack.deploy import submit
    from stack.plan.flink import CANDLES_JOB, job_arguments
    from stack.plan.kafka import internal_bootstrap
    from stack.plan.model import Names

    bootstrap = backend.endpoints().kafka_bootstrap
    candles = f"bench-candles-p{parallelism}"
    ensure_topics(bootstrap, [TopicSpec(candles, 1)])
    consumer = _candle_consumer(bootstrap, f"bench-scale-{parallelism}", candles)
    last_minute = f"|1m|{T0 + (minutes - 1) * 60_000}".encode()
    arguments = (*job_arguments(CANDLES_JOB, internal_bootstrap(backend.spec, Names(STACK)), parallelism,
                                f"file:///opt/tickerwire/checkpoints/bench-p{parallelism}"),
                 "--candles-topic", candles, "--group-id", f"bench-scale-{parallelism}",
                 "--job-name", f"{CANDLES_JOB}-p{parallelism}")
    client = docker.DockerClient(base_url=backend.base_url) if backend.base_url else docker.from_env()
    started = time.perf_counter()
    try:
        submit(client, image, backend.endpoints().flink_ui, arguments, f"{CANDLES_JOB}-p{parallelism}")
    finally:
        client.close()
    submitted = time.perf_counter()
    first, done = None, set()
    deadline = time.monotonic() + 900
    while len(done) < FLINK_SYMBOLS and time.monotonic() < deadline:
        for msg in consumer.consume(10_000, 0.2):
            if msg.error() is None:
                first = first or time.perf_counter()
                if msg.key().endswith(last_minute):
                    done.add(msg.key().split(b"|", 1)[0])
    finished = time.perf_counter()
    consumer.close()
    if len(done) < FLINK_SYMBOLS:
        raise RuntimeError(f"parallelism {parallelism}: {len(done)} of {FLINK_SYMBOLS} symbols finished in time")
    return {"parallelism": parallelism, "bars": n, "submit_s": round(submitted - started, 1),
            "first_candle_after_submit_s": round(first - submitted, 1), "seconds": round(finished - first, 1),
            "bars_per_s": round(n / (finished - first)), "bars_per_s_per_slot": round(n / (finished - first) / parallelism)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=3_000_000, help="backlog size (default 3,000,000)")
    args = parser.parse_args()
    import docker

    from stack.deploy import flink_image

    minutes = args.bars // (FLINK_SYMBOLS * 12)
    n = minutes * FLINK_SYMBOLS * 12  # whole minutes: every symbol has the last one
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        backend = make_backend(Path(tmp))
        backend.stop(delete_data=True)
        try:
            backend.start(lambda event: None, threading.Event())
            client = docker.DockerClient(base_url=backend.base_url) if backend.base_url else docker.from_env()
            image = flink_image(client, backend.spec)
            client.close()
            publisher = KafkaPublisher(backend.endpoints().kafka_bootstrap)
            produced = time.perf_counter()
            for bar in itertools.islice(iter_bars(n, FLINK_SYMBOLS, prefix="F"), n):
                publisher.produce(PRICES, bar.symbol, publisher_payload(bar))
            publisher.flush(300)
            producer_s = time.perf_counter() - produced
            runs = []
            for parallelism in (1, 2):
                runs.append(run_candle_job(backend, image, parallelism, n, minutes))
                print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
        except BaseException:
            print(backend.logs("flink-jobmanager")[-4000:], file=sys.stderr)
            raise
        finally:
            backend.stop(delete_data=True)
    result = {"backlog_bars": n, "symbols": FLINK_SYMBOLS, "price_partitions": 4, "taskmanagers": 2,
              "producer_msgs_per_s": round(n / producer_s), "runs": runs,
              "speedup_p2_over_p1": round(runs[1]["bars_per_s"] / runs[0]["bars_per_s"], 2),
              "cores": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))
    save("scaleout", result)


if __name__ == "__main__":
    main()
