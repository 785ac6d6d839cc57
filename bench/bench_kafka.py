"""Kafka and Flink benchmarks on a real local broker and the real candle job.

Run: ``.venv/bin/python -m bench.bench_kafka`` (after ``python -m stack.local prepare kafka flink``).

1. Producer throughput: ~215-byte bar records through :class:`KafkaPublisher` (encode +
   idempotent produce, acks=all, lz4), until every delivery is confirmed. Target ≥ 100,000 msgs/s.
2. Flink input: a backlog of bars on a one-partition topic, read by a freshly started job;
   rate = bars / (time the last bar's candle appears − time the first candle appears), which
   includes the JVM's warm-up (its JIT compilers take much of a core for the first ~minute,
   so the backlog is 4M bars), and the sustained rate over the backlog's second half (bars
   between the middle minute's first candle and the last minute's). Target ≥ 100,000 bars/s
   sustained.
3. End-to-end lag at 5,000 msgs/s: minute bars that each open a new candle, produced at a
   steady rate; lag = arrival of that candle at a sink consumer − produce call. Target p99 ≤ 1.5 s.

Prints a table and writes ``bench/results/kafka.json``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Consumer

from backend.bus.kafka import KafkaPublisher, TopicSpec, default_topics, ensure_topics
from backend.model import Bar
from bench.common import percentile, save
from stack.local.flink import FlinkJob
from stack.local.kafka import KafkaBroker

T0 = 1_738_593_000_000
BENCH_PRICES = "bench-prices"
BENCH_CANDLES = "bench-candles"


def iter_bars(n: int, symbols: int, seed_price: float = 100.0, prefix: str = "S", ev: str = "A") -> Iterator[Bar]:
    """``n`` bars round-robin over ``symbols`` symbols: 12 second bars per minute per symbol (or minute bars)."""
    step, length = (5_000, 1_000) if ev == "A" else (60_000, 60_000)
    for i in range(n):
        sym, k = f"{prefix}{i % symbols}", i // symbols
        price = seed_price + (i % 97) * 0.01
        yield Bar(ev, sym, T0 + k * step, T0 + k * step + length, price, price + 0.05, price - 0.05,
                  price + 0.01, 100.0 + i % 50, price, 1e6, seed_price, price, 50.0)


def make_bars(n: int, symbols: int, seed_price: float = 100.0, prefix: str = "S", ev: str = "A") -> list[Bar]:
    """:func:`iter_bars` as a list."""
    return list(iter_bars(n, symbols, seed_price, prefix, ev))


def bench_producer(bootstrap: str, n: int) -> dict:
    """Publish ``n`` bars and wait for every delivery report."""
    bars = make_bars(n, 2_000)
    publisher = KafkaPublisher(bootstrap)
    start = time.perf_counter()
    for bar in bars:
        publisher.publish_bar(bar)
    publisher.flush(300)
    elapsed = time.perf_counter() - start
    return {"messages": n, "seconds": round(elapsed, 3), "msgs_per_s": round(n / elapsed),
            "delivered": publisher.delivered, "bytes_per_msg": len(publisher_payload(bars[0]))}


def publisher_payload(bar: Bar) -> bytes:
    from backend.bus.schema import encode_bar

    return encode_bar(bar)


def _candle_consumer(bootstrap: str, group: str, topic: str = BENCH_CANDLES) -> Consumer:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    consumer.subscribe([topic])
    return consumer


FLINK_SYMBOLS = 500
BARS_PER_MINUTE = 12  # second bars 5 s apart (iter_bars)


def bench_flink_input(bootstrap: str, n: int, workdir: Path, job_options: dict[str, str]) -> tuple[dict, FlinkJob]:
    """Preload ``n`` bars, start the job, time first and last candle; the job is left running."""
    bars = iter_bars(n, FLINK_SYMBOLS, prefix="F")
    sentinel = backlog_sentinel()
    publisher = KafkaPublisher(bootstrap)
    for bar in itertools.chain(bars, [sentinel]):
        publisher.produce(BENCH_PRICES, bar.symbol, publisher_payload(bar))
    publisher.flush(300)
    consumer = _candle_consumer(bootstrap, "bench-input")
    job = FlinkJob(bootstrap, workdir / "job.log", options={
        "prices-topic": BENCH_PRICES, "candles-topic": BENCH_CANDLES, "group-id": "bench-job", **job_options})
    started = time.perf_counter()
    try:
        first, last, minute_seen = time_backlog(lambda: job.start(timeout=300), job.log_tail, consumer, sentinel)
    except BaseException:
        job.stop()  # a failed measurement must not leave the job running (and skewing what follows)
        raise
    return backlog_result(n, started, first, last, minute_seen), job


def backlog_result(n: int, started: float, first: float, last: float, minute_seen: dict[int, float]) -> dict:
    """The Flink input figures of one backlog run."""
    span = last - first
    return {"bars": n, "first_result_after_start_s": round(first - started, 2), "seconds": round(span, 3),
            "bars_per_s": round(n / span) if span > 0 else None,
            "sustained_bars_per_s": _second_half_rate(minute_seen),
            "bars_per_s_by_tenth": _rates_by_tenth(minute_seen)}


def backlog_sentinel() -> Bar:
    """A bar far after the backlog: its candle marks the end of the backlog."""
    return Bar("AM", "ZZEND", T0 + 10 * 86_400_000, T0 + 10 * 86_400_000 + 60_000, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)


def time_backlog(start, log_tail, consumer: Consumer, sentinel: Bar) -> tuple[float, float, dict[int, float]]:
    """Start the job (``start()``); return when its first candle and the sentinel's candle arrived, and when
    the first 1m candle of each minute of the backlog arrived (its bars are round-robin over the symbols,
    so every bar of the minutes before had been read by then)."""
    start()
    first = last = None
    minute_seen: dict[int, float] = {}
    sentinel_key = f"ZZEND|1m|{sentinel.start_ms}".encode()
    deadline = time.monotonic() + 600
    while last is None and time.monotonic() < deadline:
        for msg in consumer.consume(10_000, 0.2):
            if msg.error() is not None:
                continue
            now = time.perf_counter()
            first = first or now
            key = msg.key()
            if key == sentinel_key:
                last = now
            elif b"|1m|" in key:
                minute_seen.setdefault((int(key.rsplit(b"|", 1)[1]) - T0) // 60_000, now)
    consumer.close()
    if last is None:
        raise RuntimeError(f"the job did not finish the backlog:\n{log_tail()}")
    return first, last, minute_seen


def _second_half_rate(minute_seen: dict[int, float]) -> int | None:
    """Bars/s between the first candles of the backlog's middle and last minutes."""
    if len(minute_seen) < 4:
        return None
    last = max(minute_seen)
    middle = min(m for m in minute_seen if m >= last // 2)
    return _rate(minute_seen, middle, last)


def _rates_by_tenth(minute_seen: dict[int, float]) -> list[int]:
    """Bars/s over each tenth of the backlog's minutes (how the rate evolves as the JVM warms up)."""
    minutes = sorted(minute_seen)
    if len(minutes) < 11:
        return []
    bounds = [minutes[round(i * (len(minutes) - 1) / 10)] for i in range(11)]
    return [_rate(minute_seen, a, b) or 0 for a, b in zip(bounds, bounds[1:])]


def _rate(minute_seen: dict[int, float], first: int, last: int) -> int | None:
    """Bars/s between the first candles of two minutes of the backlog (None: no time passed)."""
    span = minute_seen[last] - minute_seen[first]
    return round((last - first) * BARS_PER_MINUTE * FLINK_SYMBOLS / span) if span > 0 else None


def bench_lag(bootstrap: str, rate: int, seconds: int, prices: str = BENCH_PRICES,
              candles: str = BENCH_CANDLES) -> dict:
    """Produce new-minute bars at ``rate``/s for ``seconds``; measure produce → candle arrival."""
    total = rate * seconds
    bars = make_bars(total, 1_000, prefix="L", ev="AM")
    publisher = KafkaPublisher(bootstrap, **{"linger.ms": 5})
    consumer = _candle_consumer(bootstrap, "bench-lag", candles)
    # Skip what is already on the topic so only this phase's candles are awaited.
    while consumer.consume(10_000, 1.0):
        pass
    sent: dict[bytes, float] = {}
    lags: list[float] = []
    start = time.perf_counter()
    for i, bar in enumerate(bars):
        due = start + i / rate
        while (now := time.perf_counter()) < due:
            _collect(consumer, sent, lags, 0.0)
            time.sleep(min(0.001, max(0.0, due - now)))
        key = f"{bar.symbol}|1m|{bar.start_ms}".encode()
        sent[key] = time.perf_counter()
        publisher.produce(prices, bar.symbol, publisher_payload(bar))
        publisher.poll(0)
    achieved = total / (time.perf_counter() - start)
    publisher.flush(60)
    deadline = time.monotonic() + 60
    while len(lags) < total and time.monotonic() < deadline:
        _collect(consumer, sent, lags, 0.2)
    consumer.close()
    return {"target_rate": rate, "achieved_rate": round(achieved), "messages": total, "measured": len(lags),
            "p50_s": round(percentile(lags, 50), 3), "p99_s": round(percentile(lags, 99), 3),
            "max_s": round(max(lags), 3) if lags else None}


def _collect(consumer: Consumer, sent: dict[bytes, float], lags: list[float], timeout: float) -> None:
    for msg in consumer.consume(10_000, timeout):
        if msg.error() is None and msg.value() is not None:
            t = sent.pop(msg.key(), None)
            if t is not None:
                lags.append(time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--producer-messages", type=int, default=500_000)
    parser.add_argument("--flink-bars", type=int, default=4_000_000)
    parser.add_argument("--lag-rate", type=int, default=5_000)
    parser.add_argument("--lag-seconds", type=int, default=30)
    parser.add_argument("--job-option", action="append", default=[], metavar="NAME=VALUE",
                        help="extra candles_job.py option, e.g. sink-flush-ms=50 (repeatable)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-kafka-", ignore_cleanup_errors=True) as tmp:
        workdir = Path(tmp)
        broker = KafkaBroker(workdir / "kafka", heap="1g")
        broker.start()
        job = None
        try:
            bootstrap = broker.bootstrap_servers
            ensure_topics(bootstrap, default_topics(partitions=3)
                          + [TopicSpec(BENCH_PRICES, 1), TopicSpec(BENCH_CANDLES, 3, compact=True)])
            producer = bench_producer(bootstrap, args.producer_messages)
            job_options = dict(option.split("=", 1) for option in args.job_option)
            flink, job = bench_flink_input(bootstrap, args.flink_bars, workdir, job_options)
            lag = bench_lag(bootstrap, args.lag_rate, args.lag_seconds)
        finally:
            if job is not None:
                job.stop()
            broker.stop()
    rows = [
        ("producer throughput (msgs/s)", producer["msgs_per_s"], ">= 100,000"),
        ("Flink input from Kafka, whole backlog (bars/s)", flink["bars_per_s"], "-"),
        ("Flink input from Kafka, sustained (bars/s)", flink["sustained_bars_per_s"], ">= 100,000"),
        ("Flink first result after start (s)", flink["first_result_after_start_s"], "-"),
        (f"end-to-end lag p50 at {lag['achieved_rate']}/s (s)", lag["p50_s"], "-"),
        (f"end-to-end lag p99 at {lag['achieved_rate']}/s (s)", lag["p99_s"], "<= 1.5"),
    ]
    print(f"{'measure':<44} {'value':>12}  target")
    for name, value, target in rows:
        print(f"{name:<44} {value:>12}  {target}")
    print(f"Flink input by tenth of the backlog (bars/s): {flink['bars_per_s_by_tenth']}")
    load = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    print(f"load average before/after (1, 5, 15 min): {load['before']} / {load['after']} on {os.cpu_count()} cores")
    path = save("kafka", {"producer": producer, "flink_input": flink, "lag": lag, "load_average": load,
                          "job_options": args.job_option})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
