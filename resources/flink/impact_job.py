"""PyFlink job: news impact per (article, symbol) from the ``candles`` and ``articles`` topics to ``impacts``.

Runs next to the candle job, in the same venv, as its own local mini-cluster::

    python impact_job.py --bootstrap-servers 127.0.0.1:9092 --jars file:///…connector.jar --checkpoint-dir …

Candles (only 1m; tombstones skipped) and articles (one element per matched symbol) are
keyed by symbol into a keyed co-process function whose Flink managed state holds the
symbol's recent 1m candles, its earlier sessions' volumes and the articles it follows
(:class:`backend.signals.impact_stream.SymbolImpacts`). Each candle recomputes the
followed impacts with :func:`backend.signals.impact.compute_impact` — the embedded
pipeline's function, shipped to the workers with the ``backend`` package — and a
changed impact is written to the ``impacts`` topic (key ``article_id|symbol``, an
``impact`` record of :mod:`backend.bus.schema`; compacted, the latest value is the impact).
A followed impact is dropped once it is final, past the correction horizon, and a grace
period of processing time has passed (a safety margin; the ``candles`` topic has one
partition, so a symbol's candles arrive in the order the candle job made them).

Malformed records go to the dead-letter topic with the reason (``backend.bus.schema``'s
text) and a log line; the job keeps running. Checkpoints are kept when the process is
stopped, and a new process resumes from the newest one (state and Kafka offsets).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))  # this client imports backend; the workers get it by add_python_file
sys.path.insert(0, str(Path(__file__).resolve().parent))  # job_options, however the job is launched

from job_options import add_common_arguments, configuration, kafka_connection_sql, kafka_source_sql  # noqa: E402
from pyflink.common import Row, Types  # noqa: E402
from pyflink.datastream import StreamExecutionEnvironment  # noqa: E402
from pyflink.datastream.functions import FlatMapFunction, KeyedCoProcessFunction  # noqa: E402
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor  # noqa: E402
from pyflink.table import StreamTableEnvironment  # noqa: E402

#: Marker line that stack.local.flink waits for.
RUNNING_MARKER = "TICKERWIRE JOB RUNNING"
log = logging.getLogger("tickerwire.impact_job")

ROW = Types.ROW_NAMED(["k", "payload"], [Types.STRING(), Types.STRING()])
DEAD_LETTER_ROW = Types.ROW_NAMED(
    ["type", "version", "source_topic", "partition", "offset", "key", "reason", "payload", "at_ms"],
    [Types.STRING(), Types.INT(), Types.STRING(), Types.INT(), Types.LONG(), Types.STRING(), Types.STRING(),
     Types.STRING(), Types.LONG()])


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Command-line options of the job."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--jars", required=True, help="';'-separated file:// URLs (the Kafka connector jar)")
    parser.add_argument("--candles-topic", default="candles")
    parser.add_argument("--articles-topic", default="articles")
    parser.add_argument("--impacts-topic", default="impacts")
    parser.add_argument("--dead-letters-topic", default="dead-letters")
    parser.add_argument("--group-id", default="tickerwire-flink-impacts")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--checkpoint-interval-ms", type=int, default=5_000)
    parser.add_argument("--checkpoint-dir", required=True, help="directory for checkpoints (resumed from on start)")
    parser.add_argument("--python-executable", default=sys.executable,
                        help="the Python the cluster's workers run (default: this client's, as on a mini-cluster)")
    parser.add_argument("--forget-grace-ms", type=int, default=120_000,
                        help="processing time a final impact is still followed (a safety margin)")
    return parser.parse_args(argv)


# -- per-record functions (run in the Python workers) ----------------------------------------------


class ParseRecords(FlatMapFunction):
    """A Kafka row → ``("in", symbol, value)`` elements, or one ``("dead", Row)`` saying why it is invalid."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "candle" or "article"

    def flat_map(self, row):
        from backend.bus import schema
        from backend.model import Timeframe

        key, payload = row[0], row[1]
        if payload is None:
            return  # a tombstone: candles are never deleted
        try:
            if self.kind == "candle":
                candle = schema.decode_candle(payload)
                if candle.timeframe == Timeframe.M1:
                    yield "in", candle.symbol, candle
            else:
                article = schema.decode_article(payload)
                for symbol in sorted(article.symbols):
                    yield "in", symbol, (article.id, article.published_ms)
        except schema.SchemaError as exc:
            log.warning("impact job: %s record at %s/%s/%s rejected: %s", self.kind, row[2], row[3], row[4],
                        exc.reason)
            yield "dead", Row("dead_letter", 1, row[2], row[3], row[4], key, exc.reason, payload,
                              int(time.time() * 1000))


class FollowImpacts(KeyedCoProcessFunction):
    """Keyed by symbol: input 1 is its 1m candles, input 2 its articles; emits changed impacts as ``Row(k, payload)``."""

    def __init__(self, forget_grace_ms: int) -> None:
        self.forget_grace_ms = forget_grace_ms

    def open(self, runtime_context):
        pickled = Types.PICKLED_BYTE_ARRAY()
        self.minutes = runtime_context.get_map_state(MapStateDescriptor("minutes", Types.LONG(), pickled))
        self.sessions = runtime_context.get_map_state(MapStateDescriptor("sessions", Types.LONG(), pickled))
        self.articles = runtime_context.get_map_state(MapStateDescriptor("articles", Types.STRING(), pickled))
        self.latest = runtime_context.get_state(ValueStateDescriptor("latest", Types.LONG()))

    def _state(self, ctx):
        from backend.signals.impact_stream import SymbolImpacts
        return SymbolImpacts(ctx.get_current_key(), self.minutes, self.sessions, self.articles, self.latest)

    def process_element1(self, value, ctx):
        state = self._state(ctx)
        yield from self._emit(state, ctx, self._guarded(lambda: state.on_candle(value[2]), value))

    def process_element2(self, value, ctx):
        state = self._state(ctx)
        article_id, published_ms = value[2]
        impact = self._guarded(lambda: state.on_article(article_id, published_ms), value)
        yield from self._emit(state, ctx, [impact] if impact is not None else [])

    def on_timer(self, timestamp, ctx):
        state = self._state(ctx)
        for article_id in list(self.articles.keys()):
            state.forget_if_done(article_id)
        return []

    @staticmethod
    def _guarded(step, value):
        try:
            return step()
        except Exception:  # a bug must not stop every symbol's impacts: say what it choked on
            log.exception("impact job: could not process %r", value)
            return []

    def _emit(self, state, ctx, impacts):
        from backend.bus import schema
        for impact in impacts or ():
            yield Row(schema.impact_key(impact), schema.encode_impact(impact).decode())
            if state.done(impact.article_id):
                now = ctx.timer_service().current_processing_time()
                ctx.timer_service().register_processing_time_timer(
                    (now + self.forget_grace_ms) // 1000 * 1000 + 1000)


# -- the job ----------------------------------------------------------------------------------------


def build(env: StreamExecutionEnvironment, t_env: StreamTableEnvironment, args: argparse.Namespace):
    """Sources → parse → keyed impact state → impacts and dead-letter sinks, as one statement set."""
    t_env.execute_sql(kafka_source_sql("candles_in", args.candles_topic, args))
    t_env.execute_sql(kafka_source_sql("articles_in", args.articles_topic, args))
    kafka = kafka_connection_sql(args)
    t_env.execute_sql(f"""
        CREATE TABLE impacts_out (k STRING, payload STRING) WITH (
            'connector' = 'kafka',
            'topic' = '{args.impacts_topic}',
            {kafka},
            'key.format' = 'raw',
            'key.fields' = 'k',
            'value.format' = 'raw',
            'value.fields-include' = 'EXCEPT_KEY'
        )""")
    t_env.execute_sql(f"""
        CREATE TABLE dead_letters_out (
            `type` STRING, `version` INT, source_topic STRING, `partition` INT, `offset` BIGINT,
            `key` STRING, reason STRING, payload STRING, at_ms BIGINT
        ) WITH (
            'connector' = 'kafka',
            'topic' = '{args.dead_letters_topic}',
            {kafka},
            'format' = 'json'
        )""")
    parsed = {
        kind: t_env.to_data_stream(t_env.from_path(table)).flat_map(ParseRecords(kind)).name(f"parse {kind}s")
        for kind, table in (("candle", "candles_in"), ("article", "articles_in"))
    }
    inputs = {kind: stream.filter(lambda e: e[0] == "in") for kind, stream in parsed.items()}
    impacts = (inputs["candle"].connect(inputs["article"])
               .key_by(lambda e: e[1], lambda e: e[1], key_type=Types.STRING())
               .process(FollowImpacts(args.forget_grace_ms), output_type=ROW)
               .name("impacts").uid("impacts"))
    dead = (parsed["candle"].union(parsed["article"]).filter(lambda e: e[0] == "dead")
            .map(lambda e: e[1], output_type=DEAD_LETTER_ROW))
    statements = t_env.create_statement_set()
    statements.add_insert("impacts_out", t_env.from_data_stream(impacts))
    statements.add_insert("dead_letters_out", t_env.from_data_stream(dead))
    return statements


def main(argv: list[str]) -> int:
    """Submit the job to a local mini-cluster and block until it ends."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    env = StreamExecutionEnvironment.get_execution_environment(configuration(args, "tickerwire-impacts", {
        "python.executable": args.python_executable,
        "python.client.executable": sys.executable,
    }))
    env.add_jars(*args.jars.split(";"))
    env.add_python_file(str(REPO_ROOT / "backend"))
    t_env = StreamTableEnvironment.create(env)
    build(env, t_env, args).attach_as_datastream()
    client = env.execute_async("tickerwire-impacts")
    print(f"{RUNNING_MARKER} {client.get_job_id()}", flush=True)
    client.get_job_execution_result().result()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
