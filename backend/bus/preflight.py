"""One bounded look at a Kafka cluster before using it: reachable, TLS trusted, login accepted, topics there, schema.

:func:`kafka_preflight` is what both "Test connection" (:mod:`stack.remote.check`) and a pipeline on a
stack the app did not start (:class:`backend.pipeline.stack.StackProcessor` with ``create_topics``
off, so the window and ``tickerwire collect``) run first. It connects once, logs in, lists the topics
the pipeline needs and reads the ``version`` of each topic's newest record. A failure is a
:class:`KafkaProblem` whose :attr:`~KafkaProblem.problem` names the kind (DNS, refused, timeout, TLS,
authentication, permission, a missing topic, a schema version) and whose message says it in plain
words, with what to do.

The client is given up at its first connection error, with a long reconnect back-off meanwhile:
librdkafka would otherwise retry a failing TLS handshake or login many times a second, so a wrong
password costs the broker one or two failed logins, not a storm. Nothing is created or written.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

from backend.bus.schema import SCHEMA_VERSION
from backend.bus.security import KafkaSecurity
from backend.bus.topics import ARTICLES, CANDLES, DEAD_LETTERS, IMPACTS, NEWS, PRICES, default_topics

#: The record type each topic carries (its newest record must be one, of a version this app reads).
TOPIC_TYPES = {PRICES: "bar", NEWS: "article", CANDLES: "candle", ARTICLES: "article", IMPACTS: "impact",
               DEAD_LETTERS: "dead_letter"}
TIMEOUT_S = 10.0


class KafkaProblem(Exception):
    """The cluster cannot be used as it is; ``problem`` names the kind, the message says it in plain words.

    Attributes:
        problem: ``settings``, ``dns``, ``refused``, ``timeout``, ``tls``, ``authentication``, ``permission``,
            ``missing``, ``schema`` or ``error``.
        message: What failed and what to do (no secret).
    """

    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


def kafka_preflight(bootstrap: str, security: KafkaSecurity, topics: tuple[str, ...] | None = None,
                    timeout_s: float = TIMEOUT_S) -> str:
    """Connect once, log in, list the topics, read each topic's newest record's schema version.

    Returns:
        What was found, in one line (no secret).

    Raises:
        KafkaProblem: the first thing that is wrong.
    """
    wanted = topics or tuple(t.name for t in default_topics())
    problems = security.problems()
    if problems:
        raise KafkaProblem("settings", f"the login settings are incomplete: {'; '.join(problems)}")
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from backend.bus.kafka import client_config

    errors: list = []
    lines = _Lines()
    quiet = logging.getLogger(f"tickerwire.preflight.librdkafka.{uuid.uuid4().hex[:8]}")
    quiet.propagate = False  # its lines repeat the errors reported here in words; kept for the reason
    quiet.setLevel(logging.INFO)
    quiet.addHandler(lines)
    config = {**client_config(bootstrap, security), "group.id": f"tickerwire-check-{uuid.uuid4().hex[:8]}",
              "enable.auto.commit": False, "error_cb": errors.append, "logger": quiet,
              "reconnect.backoff.ms": 2_000, "reconnect.backoff.max.ms": 30_000,
              "socket.connection.setup.timeout.ms": int(timeout_s * 1000)}
    consumer = Consumer(config)
    try:
        metadata = _wait_for_metadata(consumer, errors, lines.messages, bootstrap, security, timeout_s)
        missing = [name for name in wanted if name not in metadata.topics]
        if missing:
            raise KafkaProblem("missing", f"connected to {bootstrap} ({security.describe()}), but the topic"
                               f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                               f"{'are' if len(missing) > 1 else 'is'} missing: create them on the stack "
                               "(`tickerwire stack create-topics`); the app creates nothing on a stack it did not "
                               "start")
        denied = [name for name in wanted if metadata.topics[name].error is not None]
        if denied:
            raise KafkaProblem("permission", f"user {security.username or '(none)'} may not read the topic"
                               f"{'s' if len(denied) > 1 else ''} {', '.join(denied)} "
                               f"({metadata.topics[denied[0]].error.str()})")
        versions = _newest_versions(consumer, metadata, wanted, TopicPartition, KafkaException, timeout_s)
    finally:
        consumer.close()
        quiet.removeHandler(lines)
    wrong = {t: v for t, v in versions.items() if v != SCHEMA_VERSION}
    if wrong:
        topic, version = next(iter(wrong.items()))
        raise KafkaProblem("schema", f"the newest record on {topic} is {_version_words(version)}; this app "
                           f"understands version {SCHEMA_VERSION} records: update the app (or the stack's writers) "
                           "so both speak one version")
    brokers = len(metadata.brokers)
    filled = f", schema version {SCHEMA_VERSION} on {len(versions)} of them" if versions else ", all empty so far"
    return (f"{bootstrap} ({security.describe()}): {brokers} broker{'s' if brokers != 1 else ''}, "
            f"all {len(wanted)} topics{filled}")


def _version_words(version: str | int) -> str:
    return f"version {version}" if isinstance(version, int) else str(version)


class _Lines(logging.Handler):
    """Keeps a librdkafka client's log lines (some failures are only told there)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _wait_for_metadata(consumer, errors: list, log_lines: list[str], bootstrap: str, security: KafkaSecurity,
                       timeout_s: float):
    """The cluster's metadata, or the first connection error in words (the caller then gives the client up)."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.list_topics(timeout=min(0.5, max(0.05, deadline - time.monotonic())))
        except KafkaException:
            consumer.poll(0.05)  # serves the error callback
        for error in errors:
            if error.code() != -187:
                raise KafkaProblem(*kafka_problem(error.code(), error.str(), bootstrap, security))
        if errors and log_lines:  # only _ALL_BROKERS_DOWN: the reason is in the log line before it
            raise KafkaProblem(*kafka_problem(-187, log_lines[-1], bootstrap, security))
        if time.monotonic() >= deadline:
            raise KafkaProblem(*kafka_problem(-185, "timed out", bootstrap, security))


def kafka_problem(code: int, text: str, bootstrap: str, security: KafkaSecurity) -> tuple[str, str]:
    """(problem, message) for a librdkafka error code and text."""
    lowered = text.lower()
    if code == -193:  # _RESOLVE
        return "dns", f"the broker's name in {bootstrap} is not found (DNS): check the bootstrap servers"
    if code == -169 or "authentication" in lowered and "sasl" in lowered:  # _AUTHENTICATION
        if "unsupported sasl mechanism" in lowered or "mechanism" in lowered and "not enabled" in lowered:
            return "authentication", f"the brokers do not offer {security.mechanism}: choose the mechanism they use"
        return "authentication", (f"the brokers refused the login of {security.username!r} with {security.mechanism}: "
                                  "wrong user name or password")
    # _SSL; a certificate failure also comes as a transport error or a log line ("…: error:0A000086:SSL
    # routines::certificate verify failed (after 32ms in state SSL_HANDSHAKE)"), depending on timing.
    if code == -181 or "certificate" in lowered and ("ssl" in lowered or "handshake" in lowered):
        if "hostname" in lowered or "host name" in lowered:
            return "tls", f"the brokers' TLS certificate is not for the name in {bootstrap} (hostname mismatch)"
        if "expired" in lowered:
            return "tls", "the brokers' TLS certificate has expired"
        where = f"the CA file {security.ca_file}" if security.ca_file else "this machine's CAs"
        return "tls", (f"the brokers' TLS certificate is not trusted by {where} (certificate verify failed): "
                       "give the CA file that signed it")
    if "plaintext broker listener" in lowered:
        return "tls", f"{bootstrap} does not speak TLS: the protocol may be PLAINTEXT or SASL_PLAINTEXT"
    if "apiversion_query" in lowered or "connection closed by peer" in lowered and not security.tls:
        return "tls", f"{bootstrap} closed the connection at once: it may expect TLS (SSL or SASL_SSL)"
    if "connection refused" in lowered:
        return "refused", f"nothing answers at {bootstrap} (connection refused): is Kafka running, is the port right?"
    if "timed out" in lowered or code == -185:  # _TIMED_OUT
        return "timeout", f"{bootstrap} does not answer (timed out): a firewall, or the wrong address?"
    return "error", f"cannot reach Kafka at {bootstrap}: {text}"


def _newest_versions(consumer, metadata, topics: tuple[str, ...], topic_partition, kafka_exception,
                     timeout_s: float) -> dict[str, str | int]:
    """Topic -> the ``version`` of its newest record (or a description of what it is instead); empty topics left out."""
    assignment = []
    for topic in topics:
        for partition in metadata.topics[topic].partitions:
            try:
                low, high = consumer.get_watermark_offsets(topic_partition(topic, partition), timeout=timeout_s)
            except kafka_exception as exc:
                raise KafkaProblem("permission", f"cannot read {topic}: {exc}") from exc
            if high > low:
                assignment.append(topic_partition(topic, partition, high - 1))
    if not assignment:
        return {}
    consumer.assign(assignment)
    newest: dict[str, tuple[int, str | int]] = {}
    waiting = {(tp.topic, tp.partition) for tp in assignment}
    deadline = time.monotonic() + timeout_s
    while waiting and time.monotonic() < deadline:
        for message in consumer.consume(len(waiting), 0.5):
            if message.error() is not None:
                continue
            waiting.discard((message.topic(), message.partition()))
            if message.value() is None:
                continue  # a tombstone carries no record
            stamp = message.timestamp()[1]
            found = _record_version(message.value(), TOPIC_TYPES.get(message.topic(), ""))
            if message.topic() not in newest or stamp >= newest[message.topic()][0]:
                newest[message.topic()] = (stamp, found)
    return {topic: found for topic, (_, found) in newest.items()}


def _record_version(payload: bytes, expected_type: str) -> str | int:
    """The record's integer version, or what the payload is instead ("not a JSON record", "a 'bar' record")."""
    try:
        data = json.loads(payload)
    except ValueError:
        return "not a JSON record"
    if not isinstance(data, dict):
        return "not a JSON record"
    if expected_type and data.get("type") != expected_type:
        return f"a {data.get('type')!r} record, not a {expected_type!r} one"
    version = data.get("version")
    return version if isinstance(version, int) and not isinstance(version, bool) else "a record without a version"
