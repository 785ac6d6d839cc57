"""Kafka bus for stack mode, on confluent-kafka: topics, an idempotent producer and at-least-once sinks.

* :func:`client_config` is what every client of the app starts from: the bootstrap servers and the
  connection's TLS/SASL settings (:class:`~backend.bus.security.KafkaSecurity`).
* :func:`ensure_topics` creates the topics with their partitions and retention.
* :class:`KafkaPublisher` is an idempotent producer (``acks=all``) with batching tuned
  for throughput; a full local queue is met with ``poll()`` and a retry (backpressure,
  never loss) and surfaces as :class:`BusBackpressure` only after ``max_block_s``;
  failed deliveries surface as :class:`DeliveryFailed` and an unreachable cluster as
  :class:`BusUnavailable`.
* :class:`SinkConsumer` reads a batch, hands it to a sink and commits the offsets only
  after the sink has written it (at-least-once). Sinks upsert, so a replay never
  duplicates. Undecodable records go to the dead-letter topic before the commit.

Records are encoded by :mod:`backend.bus.schema`.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

try:
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("the Kafka bus needs confluent-kafka: reinstall TickerWire (pip install -e .)") from exc

from backend.bus import schema
from backend.bus.base import BusBackpressure
from backend.bus.security import PLAINTEXT, KafkaSecurity
from backend.bus.topics import (  # noqa: F401 - re-exported: the bus's topics are named here too
    ARTICLES, CANDLES, DAY_MS, DEAD_LETTERS, IMPACTS, NEWS, PRICES, TopicSpec, default_topics,
)
from backend.model import Article, Bar, Candle


class BusError(Exception):
    """Base class of the Kafka bus errors."""


class BusUnavailable(BusError):
    """The cluster could not be reached, or messages were not delivered in time."""


class DeliveryFailed(BusError):
    """The broker rejected messages for good (the report says which and why)."""


def client_config(bootstrap_servers: str, security: KafkaSecurity = PLAINTEXT) -> dict[str, object]:
    """The connection part of every client's configuration (holds the SASL password: never log it)."""
    return {"bootstrap.servers": bootstrap_servers, **security.client_config()}


def ensure_topics(bootstrap_servers: str, specs: Sequence[TopicSpec], timeout: float = 30.0,
                  replication: int = 1, security: KafkaSecurity = PLAINTEXT) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Raises:
        BusUnavailable: the cluster did not answer or refused a topic.
    """
    admin = AdminClient(client_config(bootstrap_servers, security))
    existing = _topic_names(admin, bootstrap_servers, timeout)
    missing = [NewTopic(spec.name, num_partitions=spec.partitions, replication_factor=replication, config=spec.config())
               for spec in specs if spec.name not in existing]
    if not missing:
        return []
    created = []
    for name, future in admin.create_topics(missing, operation_timeout=timeout).items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BusUnavailable(f"cannot create topic {name}: {exc}") from exc
    return created


def _topic_names(admin: AdminClient, bootstrap_servers: str, timeout: float) -> set[str]:
    try:
        return set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BusUnavailable(f"cannot list topics at {bootstrap_servers}: {exc}") from exc


def producer_config(bootstrap_servers: str, security: KafkaSecurity = PLAINTEXT, **overrides: object) -> dict[str, object]:
    """Idempotent, throughput-tuned producer settings (overridable)."""
    config: dict[str, object] = {
        **client_config(bootstrap_servers, security),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 20,
        "batch.size": 512 * 1024,
        "batch.num.messages": 10_000,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 256 * 1024,
        "message.timeout.ms": 300_000,
        "retry.backoff.ms": 100,
        "reconnect.backoff.max.ms": 2_000,
    }
    config.update(overrides)
    return config


class KafkaPublisher:
    """Publishes records to Kafka; check :meth:`flush` or :meth:`raise_failures` to learn of failures.

    Args:
        bootstrap_servers: ``host:port[,…]``.
        max_block_s: How long :meth:`produce` may wait for room in a full local queue
            before raising :class:`BusBackpressure`.
        security: TLS and SASL settings of the connection.
        **overrides: librdkafka settings that replace :func:`producer_config`'s.
    """

    def __init__(self, bootstrap_servers: str, *, max_block_s: float = 30.0, security: KafkaSecurity = PLAINTEXT,
                 **overrides: object) -> None:
        # Delivery reports for failures only: a Python callback per delivered message cost ~30 % of
        # the producer's time; successes are counted as produced − failed − still pending. The callback
        # holds this publisher weakly: a bound method makes a cycle through the client, so a dropped
        # publisher's client would go on connecting until the cyclic garbage collector happens to run.
        self._producer = Producer({**producer_config(bootstrap_servers, security, **overrides),
                                   "delivery.report.only.error": True,
                                   "on_delivery": _weakly(self._on_delivery)})
        self.max_block_s = max_block_s
        self._produced = 0
        self._failed = 0
        self._failures: list[str] = []

    @property
    def produced(self) -> int:
        """Messages handed to the producer so far."""
        return self._produced

    @property
    def delivered(self) -> int:
        """Messages the broker acknowledged so far."""
        return self._produced - self._failed - len(self._producer)

    def _on_delivery(self, err: KafkaError | None, msg) -> None:
        if err is not None:
            self._failed += 1
            self._failures.append(f"{msg.topic()}[{msg.key()!r}]: {err.str()}")

    def produce(self, topic: str, key: str | bytes | None, value: bytes | None) -> None:
        """Queue one message; wait (serving delivery reports) while the local queue is full.

        Raises:
            BusBackpressure: the queue stayed full for ``max_block_s``.
            DeliveryFailed: an earlier message failed for good.
        """
        if self._failures:
            self.raise_failures()
        try:
            self._producer.produce(topic, value, key)
            self._produced += 1
            return
        except BufferError:
            pass
        deadline = time.monotonic() + self.max_block_s
        while True:
            self._producer.poll(0.05)
            try:
                self._producer.produce(topic, value, key)
                self._produced += 1
                return
            except BufferError:
                if time.monotonic() >= deadline:
                    raise BusBackpressure(
                        f"producer queue full for {self.max_block_s:.0f}s ({len(self._producer)} messages waiting); "
                        "the cluster is slower than the input or unreachable") from None

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports; call it regularly from the producing loop."""
        return self._producer.poll(timeout)

    def publish_bar(self, bar: Bar) -> None:
        """Publish a bar to ``stock-prices`` keyed by symbol."""
        self.produce(PRICES, bar.symbol, schema.encode_bar(bar))

    def publish_article(self, article: Article, query: str) -> None:
        """Publish an article to ``news-articles`` keyed by the watch query that found it."""
        self.produce(NEWS, query, schema.encode_article(article))

    def publish_dead_letter(self, letter: schema.DeadLetter) -> None:
        self.produce(DEAD_LETTERS, letter.source_topic, schema.encode_dead_letter(letter))

    def pending(self) -> int:
        """Messages queued locally or in flight."""
        return len(self._producer)

    def unreachable(self, timeout: float = 3.0) -> str:
        """'' when a broker answers a metadata request within ``timeout`` seconds, else why not (for health checks)."""
        try:
            metadata = self._producer.list_topics(timeout=timeout)
        except KafkaException as exc:
            return f"Kafka does not answer: {exc.args[0].str() if exc.args else exc}"
        return "" if metadata.brokers else "Kafka has no broker up"

    def raise_failures(self) -> None:
        """Raise :class:`DeliveryFailed` for deliveries that failed since the last call."""
        if self._failures:
            failures, self._failures = self._failures, []
            shown = "; ".join(failures[:5])
            raise DeliveryFailed(f"{len(failures)} message(s) not delivered: {shown}")

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued message is delivered.

        Raises:
            BusUnavailable: messages are still undelivered after ``timeout`` seconds.
            DeliveryFailed: some messages failed for good.
        """
        remaining = self._producer.flush(timeout)
        self.raise_failures()
        if remaining:
            raise BusUnavailable(f"{remaining} message(s) still undelivered after {timeout:.0f}s")


def _weakly(method: Callable) -> Callable:
    """``method`` called through a weak reference to its object (a no-op once the object is gone)."""
    ref = weakref.WeakMethod(method)

    def call(*args) -> None:
        target = ref()
        if target is not None:
            target(*args)

    return call


def consumer_config(bootstrap_servers: str, group_id: str, security: KafkaSecurity = PLAINTEXT,
                    **overrides: object) -> dict[str, object]:
    """Consumer settings for at-least-once sinks: manual commits, start from the earliest offset."""
    config: dict[str, object] = {
        **client_config(bootstrap_servers, security),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "fetch.wait.max.ms": 50,
        "session.timeout.ms": 30_000,
    }
    config.update(overrides)
    return config


@dataclass(slots=True, frozen=True)
class Record:
    """A decoded message with where it came from."""

    topic: str
    partition: int
    offset: int
    key: str
    value: object  # Bar | Article | Candle | DeadLetter


Decoder = Callable[[bytes], object]

DECODERS: dict[str, Decoder] = {
    PRICES: schema.decode_bar,
    NEWS: schema.decode_article,
    CANDLES: schema.decode_candle,
    ARTICLES: schema.decode_article,
    IMPACTS: schema.decode_impact,
    DEAD_LETTERS: schema.decode_dead_letter,
}


class SinkConsumer:
    """Consume topics into a sink, committing offsets only after the sink wrote each batch.

    Args:
        bootstrap_servers: ``host:port[,…]``.
        group_id: Consumer group (its committed offsets are where a restart resumes).
        topics: Topics to read; each is decoded with :data:`DECODERS`.
        write: Called with each non-empty batch of :class:`Record`; must be idempotent
            (an upsert) and durable when it returns. If it raises, nothing is committed, the
            consumer rewinds to the batch, and the exception propagates; the next
            :meth:`poll_once` delivers the batch again.
        dead_letters: Receives undecodable messages before their offsets are committed;
            ``None`` raises :class:`schema.SchemaError` instead.
        security: TLS and SASL settings of the connection.
        **overrides: librdkafka settings replacing :func:`consumer_config`'s.

    Tombstones (a ``None`` value: a transient artefact of the Flink job's retractions,
    since a candle is never deleted) are skipped.
    """

    def __init__(self, bootstrap_servers: str, group_id: str, topics: Iterable[str],
                 write: Callable[[list[Record]], None], *, dead_letters: KafkaPublisher | None = None,
                 security: KafkaSecurity = PLAINTEXT, **overrides: object) -> None:
        self._consumer = Consumer(consumer_config(bootstrap_servers, group_id, security, **overrides))
        self._topics = list(topics)
        self._consumer.subscribe(self._topics)
        self._write = write
        self._dead_letters = dead_letters
        self.consumed = 0

    def poll_once(self, max_messages: int = 5_000, timeout: float = 0.5) -> int:
        """Read up to ``max_messages``, write them to the sink, then commit; return how many were read.

        Raises:
            BusUnavailable: a fatal consumer error, or the offsets could not be committed (the batch is
                written again after a restart).
        """
        messages = self._consumer.consume(max_messages, timeout)
        if not messages:
            return 0
        records: list[Record] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise BusUnavailable(f"consumer failed: {err.str()}")
                continue  # transient (e.g. partition EOF, broker down): librdkafka retries
            value = msg.value()
            if value is None:
                continue
            key = (msg.key() or b"").decode(errors="replace")
            try:
                decoded = DECODERS[msg.topic()](value)
            except schema.SchemaError as exc:
                if self._dead_letters is None:
                    raise
                self._dead_letters.publish_dead_letter(schema.DeadLetter(
                    msg.topic(), msg.partition(), msg.offset(), key, exc.reason,
                    value.decode(errors="replace"), int(time.time() * 1000)))
                continue
            records.append(Record(msg.topic(), msg.partition(), msg.offset(), key, decoded))
        if records:
            try:
                self._write(records)
            except Exception:
                self._rewind(messages)  # the next poll re-reads the batch: nothing is skipped
                raise
        if self._dead_letters is not None:
            self._dead_letters.flush()
        self._commit(messages)
        self.consumed += len(messages)
        return len(messages)

    def _rewind(self, messages: list) -> None:
        earliest: dict[tuple[str, int], int] = {}
        for msg in messages:
            if msg.error() is None:
                key = (msg.topic(), msg.partition())
                earliest[key] = min(msg.offset(), earliest.get(key, msg.offset()))
        for (topic, partition), offset in earliest.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))

    def _commit(self, messages: list) -> None:
        latest: dict[tuple[str, int], int] = {}
        for msg in messages:
            if msg.error() is None:
                latest[(msg.topic(), msg.partition())] = msg.offset() + 1
        if latest:  # written but not committed: BusUnavailable, and written again after a restart (upserts)
            commit_offsets(self._consumer, [TopicPartition(t, p, o) for (t, p), o in latest.items()])

    def close(self) -> None:
        """Leave the group (offsets are already committed)."""
        self._consumer.close()


#: How long a commit may wait for the group's coordinator before the bus counts as unavailable.
COMMIT_TIMEOUT_S = 30.0


def commit_offsets(consumer: Consumer, offsets: list[TopicPartition], timeout_s: float = COMMIT_TIMEOUT_S) -> None:
    """Commit ``offsets`` and return once the group's coordinator holds them.

    librdkafka's synchronous commit waits for a coordinator without a bound (a sink's commit to a killed
    broker was seen waiting for over 12 minutes), so the commit is sent asynchronously and then read back
    with a timeout: the broker answers a connection's requests in order.

    Raises:
        BusUnavailable: the coordinator did not confirm the offsets within ``timeout_s``.
    """
    try:
        consumer.commit(offsets=offsets, asynchronous=True)
        held = {(tp.topic, tp.partition): tp for tp in consumer.committed(
            [TopicPartition(tp.topic, tp.partition) for tp in offsets], timeout=timeout_s)}
    except KafkaException as exc:
        raise BusUnavailable(f"could not commit the consumer's offsets: {exc}") from exc
    for want in offsets:
        got = held.get((want.topic, want.partition))
        if got is None or got.error is not None or got.offset < want.offset:
            why = got.error if got is not None and got.error is not None else "the coordinator does not hold them"
            raise BusUnavailable(f"could not commit the consumer's offsets: {want.topic}[{want.partition}] "
                                 f"at {want.offset}: {why}")


def candle_writer(upsert: Callable[[Iterable[Candle]], None]) -> Callable[[list[Record]], None]:
    """Adapt a store's ``upsert_candles`` into a :class:`SinkConsumer` writer for the ``candles`` topic."""

    def write(records: list[Record]) -> None:
        upsert([r.value for r in records if isinstance(r.value, Candle)])

    return write
