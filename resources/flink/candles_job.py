"""PyFlink job: bars from Kafka into candles (1m and 5m/15m/1h/1d roll-ups), articles forwarded, dead letters.

Runs in its own venv (``python -m stack.local prepare flink``) as a local mini-cluster::

    python candles_job.py --bootstrap-servers 127.0.0.1:9092 --jars file:///…connector.jar;file:///…udf.jar

Everything per row stays in the JVM: Flink SQL around Java code (``udf/``).
``parse_bar``/``parse_article`` parse a message once and say why it is invalid;
``BuildCandles`` is a keyed stream operator (one key per symbol, wired in between the SQL
with ``toDataStream``/``fromDataStream``) that keeps the symbol's open buckets in Flink state
and applies the embedded aggregator's rules (``backend/processing/aggregator.py``, the oracle)
bar by bar, in arrival order:

* the latest ``AM`` bar of a minute wins in full, else the minute is built from its
  ``A`` bars, each (symbol, second) an upsert — a correction updates every candle above it;
* roll-ups merge the level below (5m ← 1m, 15m ← 5m, 1h ← 15m, 1d ← 1h, as the oracle
  does), in epoch-aligned buckets; 1d is the New York calendar day;
* event time per symbol (watermark = latest bar end − 15 min): a bar behind it is
  repaired as the embedded pipeline repairs late bars (``late.py``: an ``AM`` bar replaces
  its minute, an ``A`` bar is added to it) and the roll-ups above are re-folded; seconds
  of minutes behind it leave state, and so do New York days before its previous day. A bar
  for an evicted day goes to the dead-letter topic with its partition and offset (empty payload).

Each bar changes five candles; the operator keeps the latest version of each and sends
them every ``--sink-flush-ms`` and before every checkpoint barrier, so a burst of bars for
one minute costs one message per candle per flush. Candles are keyed
``symbol|timeframe|start_ms``. Malformed messages go to the dead-letter topic with the
reason, the original payload and its topic/partition/offset; the job keeps running.
A restarted job resumes from its newest checkpoint (state and offsets), if there is one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # job_options, however the job is launched

from job_options import add_common_arguments, configuration, kafka_connection_sql, kafka_source_sql  # noqa: E402
from pyflink.datastream import StreamExecutionEnvironment  # noqa: E402
from pyflink.java_gateway import get_gateway  # noqa: E402
from pyflink.table import StreamTableEnvironment, Table  # noqa: E402

#: Marker line that stack.local.flink waits for.
RUNNING_MARKER = "TICKERWIRE JOB RUNNING"


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options of the job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--jars", required=True, help="';'-separated file:// URLs (connector and UDF jars)")
    parser.add_argument("--prices-topic", default="stock-prices")
    parser.add_argument("--news-topic", default="news-articles")
    parser.add_argument("--candles-topic", default="candles")
    parser.add_argument("--articles-topic", default="articles")
    parser.add_argument("--dead-letters-topic", default="dead-letters")
    parser.add_argument("--group-id", default="tickerwire-flink")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--checkpoint-interval-ms", type=int, default=10_000,
                        help="also how much input a restarted job re-reads at most (candles are idempotent upserts)")
    parser.add_argument("--checkpoint-dir", required=True, help="directory for checkpoints (state outgrows memory)")
    parser.add_argument("--sink-flush-ms", type=int, default=100,
                        help="how long changed candles are coalesced before they are sent (0: at once)")
    return parser.parse_args(argv)


def options() -> dict[str, str]:
    """The candle job's own runtime options, on top of :func:`job_options.configuration`'s."""
    return {
        # The SQL runtime and BuildCandles do not hold on to records they passed on: chained operators need not copy.
        "pipeline.object-reuse": "true",
        # Candles are upserts by key already; the sink needs no materialising operator in front of it.
        "table.exec.sink.upsert-materialize": "NONE",
        # BuildCandles keeps a symbol's state in one object, read and changed in place on the heap.
        "state.backend.type": "hashmap",
    }


def create_tables(env: StreamTableEnvironment, args: argparse.Namespace) -> None:
    """Sources, sinks and the parsing functions."""
    env.execute_sql("CREATE TEMPORARY FUNCTION parse_bar AS 'tickerwire.flink.ParseBar' LANGUAGE JAVA")
    env.execute_sql("CREATE TEMPORARY FUNCTION parse_article AS 'tickerwire.flink.ParseArticle' LANGUAGE JAVA")
    env.execute_sql(kafka_source_sql("prices_in", args.prices_topic, args))
    env.execute_sql(kafka_source_sql("news_in", args.news_topic, args))
    kafka = kafka_connection_sql(args)
    env.execute_sql(f"""
        CREATE TABLE candles_out (k STRING, payload STRING, PRIMARY KEY (k) NOT ENFORCED) WITH (
            'connector' = 'upsert-kafka',
            'topic' = '{args.candles_topic}',
            {kafka},
            'key.format' = 'raw',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY',
            -- a flush's candles leave in a few large compressed batches, not one request per partial batch
            'properties.linger.ms' = '10',
            'properties.batch.size' = '524288',
            'properties.compression.type' = 'lz4'
        )""")
    env.execute_sql(f"""
        CREATE TABLE articles_out (k STRING, payload STRING) WITH (
            'connector' = 'kafka',
            'topic' = '{args.articles_topic}',
            {kafka},
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
            {kafka},
            'format' = 'json'
        )""")


def create_views(env: StreamTableEnvironment, args: argparse.Namespace) -> None:
    """Parse each message once, then the keyed candle operator: ``prices_parsed`` → ``built`` (candles
    as topic key and JSON record, and late bars) and ``prices_invalid`` (messages that are no bar)."""
    env.execute_sql("""
        CREATE TEMPORARY VIEW prices_parsed AS
        SELECT p.sym, p.ev, p.s, p.e, p.o, p.h, p.l, p.c, p.v, p.vw, p.z, src_partition, src_offset,
               p.error, src_topic, k, payload
        FROM (SELECT *, parse_bar(payload) AS p FROM prices_in)""")
    build_candles = get_gateway().jvm.tickerwire.flink.BuildCandles
    attached = build_candles.attach(env._j_tenv, env.from_path("prices_parsed")._j_table, args.sink_flush_ms)
    env.create_temporary_view("built", Table(attached.built(), env))
    env.create_temporary_view("prices_invalid", Table(attached.invalid(), env))


def _dead_letters(source: str, parser: str) -> str:
    return (f"SELECT 'dead_letter', 1, src_topic, src_partition, src_offset, k, p.error, payload, "
            f"CAST(UNIX_TIMESTAMP() AS BIGINT) * 1000 "
            f"FROM (SELECT *, {parser}(payload) AS p FROM {source}) WHERE p.error IS NOT NULL")


def build(env: StreamTableEnvironment, args: argparse.Namespace):
    """The statement set: candles, articles and dead letters (malformed records, bars too late to merge)."""
    statements = env.create_statement_set()
    statements.add_insert_sql("INSERT INTO candles_out SELECT k, payload FROM built WHERE late_reason IS NULL")
    statements.add_insert_sql(
        "INSERT INTO articles_out SELECT p.id, payload "
        "FROM (SELECT payload, parse_article(payload) AS p FROM news_in) WHERE p.error IS NULL")
    now_ms = "CAST(UNIX_TIMESTAMP() AS BIGINT) * 1000"
    statements.add_insert_sql(
        "INSERT INTO dead_letters_out "
        f"SELECT 'dead_letter', 1, src_topic, src_partition, src_offset, k, error, payload, {now_ms} "
        "FROM prices_invalid"
        f" UNION ALL SELECT 'dead_letter', 1, '{args.prices_topic}', src_partition, src_offset, sym, late_reason, "
        f"'', {now_ms} FROM built WHERE late_reason IS NOT NULL"
        " UNION ALL " + _dead_letters("news_in", "parse_article"))
    return statements


def main(argv: list[str]) -> int:
    """Submit the job to a local mini-cluster and block until it ends."""
    args = parse_args(argv)
    env = StreamExecutionEnvironment.get_execution_environment(
        configuration(args, "tickerwire-candles", options()))
    env.add_jars(*args.jars.split(";"))
    t_env = StreamTableEnvironment.create(env)
    create_tables(t_env, args)
    create_views(t_env, args)
    build(t_env, args).attach_as_datastream()
    client = env.execute_async(args.job_name or "tickerwire-candles")
    print(f"{RUNNING_MARKER} {client.get_job_id()}", flush=True)
    client.get_job_execution_result().result()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
