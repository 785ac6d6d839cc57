"""PyFlink job: bars from Kafka into candles (1m and 5m/15m/1h/1d roll-ups), articles forwarded, dead letters.

Runs in its own venv (``python -m stack.local prepare flink``) as a local mini-cluster::

    python candles_job.py --bootstrap-servers 127.0.0.1:9092 --jars file:///…connector.jar;file:///…udf.jar

Everything per row stays in the JVM: Flink SQL plus two small Java functions (``udf/``)
that parse a message once and say why it is invalid. Semantics are those of
the embedded aggregator (``backend/processing/aggregator.py``, the oracle), computed as
continuous upserting aggregations, so every correction updates the candles it touches:

* bars are deduplicated by arrival (latest wins): ``AM`` per (symbol, minute),
  ``A`` per (symbol, start);
* a minute with an ``AM`` bar takes it in full, else it is built from its ``A`` bars;
* roll-ups merge the level below (5m ← 1m, 15m ← 5m, 1h ← 15m, 1d ← 1h, as the oracle
  does), in epoch-aligned buckets; 1d is the New York calendar day.

"Open of the earliest" and "close of the latest" are retractable MIN/MAX over
``zero-padded start | price`` strings (Java's shortest round-trip double text), so a
correction that replaces the first second or minute of a bucket is handled exactly.
Candles go to an upsert-kafka topic keyed ``symbol|timeframe|start_ms`` (a transient
tombstone may appear while a retraction is in flight: consumers ignore tombstones,
because a candle is never deleted). Malformed messages go to the dead-letter topic with
the reason, the original payload and its topic/partition/offset; the job keeps running.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyflink.table import EnvironmentSettings, TableEnvironment

#: Marker line that stack.local.flink waits for.
RUNNING_MARKER = "TICKERWIRE JOB RUNNING"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options of the job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--jars", required=True, help="';'-separated file:// URLs (connector and UDF jars)")
    parser.add_argument("--prices-topic", default="stock-prices")
    parser.add_argument("--news-topic", default="news-articles")
    parser.add_argument("--candles-topic", default="candles")
    parser.add_argument("--articles-topic", default="articles")
    parser.add_argument("--dead-letters-topic", default="dead-letters")
    parser.add_argument("--group-id", default="tickerwire-flink")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--checkpoint-interval-ms", type=int, default=5_000)
    parser.add_argument("--checkpoint-dir", required=True, help="directory for checkpoints (state outgrows memory)")
    parser.add_argument("--mini-batch-latency-ms", type=int, default=100)
    parser.add_argument("--mini-batch-size", type=int, default=5000)
    parser.add_argument("--state-ttl-hours", type=int, default=0,
                        help="expire idle state after this many hours (0: never). Costly on the heap backend: "
                             "TTL'd map state is copied on every access")
    parser.add_argument("--sink-flush-ms", type=int, default=100)
    return parser.parse_args(argv)


def configure(env: TableEnvironment, args: argparse.Namespace) -> None:
    """Runtime options: jars, parallelism, checkpoints, mini-batches, state TTL, New York time zone."""
    config = env.get_config()
    options = {
        "pipeline.jars": args.jars,
        "pipeline.name": "tickerwire-candles",
        "parallelism.default": str(args.parallelism),
        "execution.checkpointing.interval": f"{args.checkpoint_interval_ms} ms",
        "execution.checkpointing.storage": "filesystem",
        "execution.checkpointing.dir": Path(args.checkpoint_dir).resolve().as_uri(),
        "execution.checkpointing.num-retained": "2",
        # A checkpoint that fails while the broker is away must not restart the job.
        "execution.checkpointing.tolerable-failed-checkpoints": "1000",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": "1000",
        "restart-strategy.fixed-delay.delay": "2 s",
        "table.exec.mini-batch.enabled": "true",
        "table.exec.mini-batch.allow-latency": f"{args.mini_batch_latency_ms} ms",
        "table.exec.mini-batch.size": str(args.mini_batch_size),
        # Retractable MIN/MAX keep map state; two-phase aggregation would convert it on every bundle.
        "table.optimizer.agg-phase-strategy": "ONE_PHASE",
        # 1d buckets are New York days: DATE_FORMAT/UNIX_TIMESTAMP below work in this zone.
        "table.local-time-zone": "America/New_York",
        "table.exec.sink.upsert-materialize": "NONE",
    }
    if args.state_ttl_hours > 0:
        options["table.exec.state.ttl"] = f"{args.state_ttl_hours} h"
    for key, value in options.items():
        config.set(key, value)


def _kafka_source(name: str, topic: str, args: argparse.Namespace) -> str:
    return f"""
        CREATE TABLE {name} (
            k STRING,
            payload STRING,
            src_topic STRING METADATA FROM 'topic' VIRTUAL,
            src_partition INT METADATA FROM 'partition' VIRTUAL,
            src_offset BIGINT METADATA FROM 'offset' VIRTUAL
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{topic}',
            'properties.bootstrap.servers' = '{args.bootstrap_servers}',
            'properties.group.id' = '{args.group_id}',
            'properties.auto.offset.reset' = 'earliest',
            'scan.startup.mode' = 'group-offsets',
            'key.format' = 'raw',
            'key.fields' = 'k',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )"""


def create_tables(env: TableEnvironment, args: argparse.Namespace) -> None:
    """Sources, sinks and the parsing functions."""
    env.execute_sql("CREATE TEMPORARY FUNCTION parse_bar AS 'tickerwire.flink.ParseBar' LANGUAGE JAVA")
    env.execute_sql("CREATE TEMPORARY FUNCTION parse_article AS 'tickerwire.flink.ParseArticle' LANGUAGE JAVA")
    env.execute_sql(_kafka_source("prices_in", args.prices_topic, args))
    env.execute_sql(_kafka_source("news_in", args.news_topic, args))
    servers = args.bootstrap_servers
    env.execute_sql(f"""
        CREATE TABLE candles_out (
            k STRING, `type` STRING, `version` INT, symbol STRING, timeframe STRING, start_ms BIGINT,
            `open` DOUBLE, high DOUBLE, low DOUBLE, `close` DOUBLE, volume DOUBLE, vwap DOUBLE, trades BIGINT,
            PRIMARY KEY (k) NOT ENFORCED
        ) WITH (
            'connector' = 'upsert-kafka',
            'topic' = '{args.candles_topic}',
            'properties.bootstrap.servers' = '{servers}',
            'key.format' = 'raw',
            'value.format' = 'json',
            'value.fields-include' = 'EXCEPT_KEY',
            'sink.buffer-flush.max-rows' = '20000',
            'sink.buffer-flush.interval' = '{args.sink_flush_ms} ms'
        )""")
    env.execute_sql(f"""
        CREATE TABLE articles_out (k STRING, payload STRING) WITH (
            'connector' = 'kafka',
            'topic' = '{args.articles_topic}',
            'properties.bootstrap.servers' = '{servers}',
            'key.format' = 'raw',
            'key.fields' = 'k',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )""")
    env.execute_sql(f"""
        CREATE TABLE dead_letters_out (
            `type` STRING, `version` INT, source_topic STRING, `partition` INT, `offset` BIGINT,
            `key` STRING, reason STRING, payload STRING, at_ms BIGINT
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{args.dead_letters_topic}',
            'properties.bootstrap.servers' = '{servers}',
            'format' = 'json'
        )""")


def _round_half_even(x: str) -> str:
    """SQL for Python's ``round(x)`` (ties to even) on a DOUBLE, exact for the same IEEE value."""
    f = f"FLOOR({x})"
    return (f"CASE WHEN {x} - {f} > 5E-1 THEN {f} + 1 WHEN {x} - {f} < 5E-1 THEN {f} "
            f"WHEN MOD(CAST({f} AS BIGINT), 2) = 0 THEN {f} ELSE {f} + 1 END")


def _first_last(time_col: str, price_col: str) -> str:
    """SQL for a sortable ``start|price`` string (see the module docstring)."""
    return f"LPAD(CAST({time_col} AS STRING), 20, '0') || '|' || CAST({price_col} AS STRING)"


def _price(column: str) -> str:
    return f"CAST(SPLIT_INDEX({column}, '|', 1) AS DOUBLE)"


def _bucket_level(name: str, source: str, bucket: str) -> str:
    """A roll-up level: merge the candles of ``source`` into buckets (the oracle's merge rule)."""
    return f"""
        CREATE TEMPORARY VIEW {name} AS
        SELECT sym, start_ms, {_price('first_o')} AS o, h, l, {_price('last_c')} AS c, v,
               CASE WHEN v > 0 THEN pv / v ELSE {_price('last_c')} END AS vw, n
        FROM (
            SELECT sym, start_ms, MIN({_first_last('child', 'o')}) AS first_o, MAX({_first_last('child', 'c')}) AS last_c,
                   MAX(h) AS h, MIN(l) AS l, SUM(v) AS v, SUM(vw * v) AS pv, SUM(n) AS n
            FROM (SELECT sym, {bucket} AS start_ms, start_ms AS child, o, h, l, c, v, vw, n FROM {source})
            GROUP BY sym, start_ms)"""


def create_views(env: TableEnvironment) -> None:
    """The candle pipeline as views: parse → latest per key → 1m → 5m → 15m → 1h → 1d.

    Each roll-up level merges the level below, as the oracle does, so the retractable
    MIN/MAX states stay small (≤ 60 seconds, 5 minutes, 3 × 5m, 4 × 15m, ≤ 25 hours). Every
    level has exactly the candle's columns and its consumers (the sink and the next level)
    read all of them, so the planner shares one aggregation per level instead of pruning
    each branch differently and recomputing the chain per branch; the next level's
    price × volume is ``vw * v`` (equal to the summed price × volume within a few ulps).
    """
    env.execute_sql("""
        CREATE TEMPORARY VIEW prices_parsed AS
        SELECT k, payload, src_topic, src_partition, src_offset,
               p.ev, p.sym, p.s, p.o, p.h, p.l, p.c, p.v, p.vw, p.z, p.error
        FROM (SELECT *, parse_bar(payload) AS p FROM prices_in)""")
    trades = f"CASE WHEN z > 0 THEN GREATEST(CAST(1 AS BIGINT), CAST({_round_half_even('v / z')} AS BIGINT)) " \
             "ELSE CAST(0 AS BIGINT) END"
    env.execute_sql(f"""
        CREATE TEMPORARY VIEW bars AS
        SELECT ev, sym, s, s - MOD(s, 60000) AS minute_ms, o, h, l, c, v, vw, {trades} AS n
        FROM prices_parsed WHERE error IS NULL""")
    # Latest arrival wins: AM per (symbol, minute), A per (symbol, start). LAST_VALUE over the
    # append-only input is arrival order (a symbol's bars share a partition); unlike a
    # PROCTIME deduplication it is deterministic, so the planner can share everything above it.
    last = ", ".join(f"LAST_VALUE({col}) AS {col}" for col in ("o", "h", "l", "c", "v", "vw", "n"))
    env.execute_sql(f"""
        CREATE TEMPORARY VIEW am_latest AS
        SELECT sym, minute_ms, {last} FROM bars WHERE ev = 'AM' GROUP BY sym, minute_ms""")
    env.execute_sql(f"""
        CREATE TEMPORARY VIEW a_latest AS
        SELECT sym, s, minute_ms, {last} FROM bars WHERE ev = 'A' GROUP BY sym, s, minute_ms""")
    # One aggregation per minute over both kinds: at most one live AM row (so its SUMs are its
    # values, exactly), and the A seconds merged; the AM bar wins whenever it exists.
    env.execute_sql(f"""
        CREATE TEMPORARY VIEW minute_parts AS
        SELECT sym, minute_ms, 1 AS am, o AS am_o, h AS am_h, l AS am_l, c AS am_c, v AS am_v, vw AS am_vw,
               n AS am_n, CAST(NULL AS STRING) AS a_first, CAST(NULL AS STRING) AS a_last,
               CAST(NULL AS DOUBLE) AS a_h, CAST(NULL AS DOUBLE) AS a_l, 0E0 AS a_v, 0E0 AS a_pv, CAST(0 AS BIGINT) AS a_n
        FROM am_latest
        UNION ALL
        SELECT sym, minute_ms, 0, 0E0, 0E0, 0E0, 0E0, 0E0, 0E0, CAST(0 AS BIGINT),
               {_first_last('s', 'o')}, {_first_last('s', 'c')}, h, l, v, vw * v, n
        FROM a_latest""")
    env.execute_sql(f"""
        CREATE TEMPORARY VIEW minutes AS
        SELECT sym, start_ms,
               CASE WHEN am > 0 THEN am_o ELSE {_price('a_first')} END AS o,
               CASE WHEN am > 0 THEN am_h ELSE a_h END AS h,
               CASE WHEN am > 0 THEN am_l ELSE a_l END AS l,
               CASE WHEN am > 0 THEN am_c ELSE {_price('a_last')} END AS c,
               CASE WHEN am > 0 THEN am_v ELSE a_v END AS v,
               CASE WHEN am > 0 THEN am_vw WHEN a_v > 0 THEN a_pv / a_v ELSE {_price('a_last')} END AS vw,
               CASE WHEN am > 0 THEN am_n ELSE a_n END AS n
        FROM (
            SELECT sym, minute_ms AS start_ms, SUM(am) AS am, SUM(am_o) AS am_o, SUM(am_h) AS am_h,
                   SUM(am_l) AS am_l, SUM(am_c) AS am_c, SUM(am_v) AS am_v, SUM(am_vw) AS am_vw, SUM(am_n) AS am_n, MIN(a_first) AS a_first, MAX(a_last) AS a_last,
                   MAX(a_h) AS a_h, MIN(a_l) AS a_l, SUM(a_v) AS a_v, SUM(a_pv) AS a_pv, SUM(a_n) AS a_n
            FROM minute_parts GROUP BY sym, minute_ms)
        WHERE am > 0 OR a_first IS NOT NULL""")
    for name, source, length in (("m5", "minutes", 300_000), ("m15", "m5", 900_000), ("h1", "m15", 3_600_000)):
        env.execute_sql(_bucket_level(name, source, f"start_ms - MOD(start_ms, {length})"))
    ny_midnight = "UNIX_TIMESTAMP(DATE_FORMAT(TO_TIMESTAMP_LTZ(start_ms, 3), 'yyyy-MM-dd'), 'yyyy-MM-dd') * 1000"
    env.execute_sql(_bucket_level("d1", "h1", ny_midnight))


def _candle_select(view: str, tf: str, start: str) -> str:
    return (f"SELECT sym || '|' || {tf} || '|' || CAST({start} AS STRING), 'candle', 1, sym, {tf}, {start}, "
            f"o, h, l, c, v, vw, n FROM {view}")


def _dead_letters(source: str, parser: str) -> str:
    return (f"SELECT 'dead_letter', 1, src_topic, src_partition, src_offset, k, p.error, payload, "
            f"CAST(UNIX_TIMESTAMP() AS BIGINT) * 1000 "
            f"FROM (SELECT *, {parser}(payload) AS p FROM {source}) WHERE p.error IS NOT NULL")


def build(env: TableEnvironment):
    """The statement set: candles, articles and dead letters from both topics."""
    statements = env.create_statement_set()
    levels = (("minutes", "1m"), ("m5", "5m"), ("m15", "15m"), ("h1", "1h"), ("d1", "1d"))
    statements.add_insert_sql("INSERT INTO candles_out " + " UNION ALL ".join(
        _candle_select(view, f"'{tf}'", "start_ms") for view, tf in levels))
    statements.add_insert_sql(
        "INSERT INTO articles_out SELECT p.id, payload "
        "FROM (SELECT payload, parse_article(payload) AS p FROM news_in) WHERE p.error IS NULL")
    statements.add_insert_sql(
        "INSERT INTO dead_letters_out "
        "SELECT 'dead_letter', 1, src_topic, src_partition, src_offset, k, error, payload, "
        "CAST(UNIX_TIMESTAMP() AS BIGINT) * 1000 FROM prices_parsed WHERE error IS NOT NULL"
        " UNION ALL " + _dead_letters("news_in", "parse_article"))
    return statements


def main(argv: list[str]) -> int:
    """Submit the job to a local mini-cluster and block until it ends."""
    args = parse_args(argv)
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    configure(env, args)
    create_tables(env, args)
    create_views(env)
    result = build(env).execute()
    job_id = result.get_job_client().get_job_id() if result.get_job_client() else "?"
    print(f"{RUNNING_MARKER} {job_id}", flush=True)
    result.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
