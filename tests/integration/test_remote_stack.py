"""A remote (shared) stack for real: the local broker with TLS from the test's CA and SCRAM logins, an influxd with
authentication on. Test connection, the app's stack pipeline and the collector connect with the right credentials and
data flows; a wrong password, an untrusted certificate and a missing topic each give their own message — from the
check and from the running pipeline/collector alike — after a bounded number of attempts, and nothing is created."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from backend.bus import schema
from backend.bus.kafka import client_config, default_topics
from backend.bus.topics import CANDLES, NEWS, PRICES
from backend.model import Candle, Timeframe, WatchItem
from backend.pipeline.runtime import FeedChoice, build
from backend.settings import Settings, tickerwire_home
from backend.stores.base import StoreError
from secure_stack import PASSWORD, save_profile
from stack.remote.check import check_kafka, check_profile

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
#: A client that fails its login or handshake may try at most this often (the preflight gives it up at once).
MAX_ATTEMPTS = 3


def _failed_logins_after(broker, before: int, settle_s: float = 1.0) -> int:
    time.sleep(settle_s)  # the broker logs a failure just after it closes the connection
    return broker.failed_logins() - before


def _pipeline(profile_name: str, symbols=("RMTA",)):
    from app.stack_mode import remote_connection

    settings = Settings(tickerwire_home() / "settings.json")
    watch = [WatchItem(s, s) for s in symbols]
    return build("stack", settings, FeedChoice("demo", speed=60.0), stack=remote_connection(profile_name),
                 watchlist=watch)


# --- Test connection --------------------------------------------------------------------------------------------------


def test_check_passes_with_the_right_credentials(secure_kafka, secured_influx):
    profile = save_profile(secure_kafka, secured_influx)
    from backend.remote_stack import load_secrets

    findings = check_profile(profile, load_secrets(profile.name), timeout_s=15)
    assert [(f.endpoint, f.ok) for f in findings] == [("Kafka", True), ("InfluxDB", True)], [f.line for f in findings]
    assert "SASL_SSL, SCRAM-SHA-256 as desk" in findings[0].message
    assert "all 6 topics" in findings[0].message
    assert PASSWORD not in findings[0].message + findings[1].message


def test_check_wrong_password_says_so_after_one_or_two_logins(secure_kafka):
    before = secure_kafka.broker.failed_logins()
    finding = check_kafka(secure_kafka.bootstrap, secure_kafka.security(password="not-the-password"), timeout_s=15)
    assert (finding.ok, finding.problem) == (False, "authentication")
    assert "refused the login of 'desk' with SCRAM-SHA-256: wrong user name or password" in finding.message
    failed = _failed_logins_after(secure_kafka.broker, before)
    print(f"Test connection with a wrong password: {failed} failed login(s) on the broker")
    assert 1 <= failed <= MAX_ATTEMPTS


def test_check_untrusted_certificate_says_so(secure_kafka):
    before = secure_kafka.broker.failed_logins()
    finding = check_kafka(secure_kafka.bootstrap, secure_kafka.security(ca=secure_kafka.pki.stranger_ca), timeout_s=15)
    assert (finding.ok, finding.problem) == (False, "tls")
    assert "TLS certificate is not trusted by the CA file" in finding.message
    assert str(secure_kafka.pki.stranger_ca) in finding.message
    assert _failed_logins_after(secure_kafka.broker, before) <= MAX_ATTEMPTS


def test_check_refused_port_says_nothing_answers(secure_kafka):
    from stack.local.kafka import free_port

    finding = check_kafka(f"localhost:{free_port()}", secure_kafka.security(), timeout_s=5)
    assert (finding.ok, finding.problem) == (False, "refused"), finding.line


def test_check_names_a_record_of_another_schema_version(secure_kafka):
    topic = f"schema-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": secure_kafka.broker.bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    producer = Producer(client_config(secure_kafka.bootstrap, secure_kafka.security()))
    producer.produce(topic, json.dumps({"type": "bar", "version": 2, "sym": "X"}).encode(), b"X")
    assert producer.flush(15) == 0
    from backend.bus import preflight

    preflight.TOPIC_TYPES[topic] = "bar"
    try:
        finding = check_kafka(secure_kafka.bootstrap, secure_kafka.security(), topics=(topic,), timeout_s=15)
    finally:
        del preflight.TOPIC_TYPES[topic]
    assert (finding.ok, finding.problem) == (False, "schema")
    assert f"the newest record on {topic} is version 2; this app understands version 1 records" in finding.message


# --- the app's pipeline on the remote stack ---------------------------------------------------------------------------


def test_app_pipeline_publishes_and_receives_through_sasl_ssl(secure_kafka, secured_influx):
    profile = save_profile(secure_kafka, secured_influx)
    pipeline = _pipeline(profile.name)
    updates = []
    pipeline.add_listener(updates.append)
    consumer = Consumer({**client_config(secure_kafka.bootstrap, secure_kafka.security()),
                         "group.id": f"t-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
    pipeline.start()
    try:
        assert pipeline.processor.sinks is None  # a desk only reads: the server's collector runs the sinks
        assert pipeline.processor.store.settings.token == secured_influx.read_token
        # Bars of the demo feed reach stock-prices through the secured listener.
        consumer.subscribe([PRICES])
        deadline, bars = time.monotonic() + 60, []
        while time.monotonic() < deadline and not bars:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None and msg.key() == b"RMTA":
                bars.append(schema.decode_bar(msg.value()))
        assert bars and bars[0].symbol == "RMTA"
        # A candle the stack's job would emit reaches the window through the live feed's secured consumer.
        candle = Candle("RMTA", Timeframe.M1, 1_700_000_040_000, 1.0, 2.0, 0.5, 1.5, 10.0, 1.2, 3)
        producer = Producer(client_config(secure_kafka.bootstrap, secure_kafka.security()))
        producer.produce(CANDLES, schema.encode_candle(candle), b"RMTA")
        assert producer.flush(15) == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(candle in u.candles for u in updates):
            time.sleep(0.1)
        assert any(candle in u.candles for u in updates)
        assert not pipeline.failed.is_set()
    finally:
        consumer.close()
        pipeline.stop()


def test_app_pipeline_wrong_password_stops_at_once_with_the_reason(secure_kafka, secured_influx):
    profile = save_profile(secure_kafka, secured_influx, password="wrong")
    before = secure_kafka.broker.failed_logins()
    pipeline = _pipeline(profile.name)
    started = time.monotonic()
    with pytest.raises(StoreError, match="refused the login of 'desk' with SCRAM-SHA-256: wrong user name or password"):
        pipeline.start()
    took = time.monotonic() - started
    assert took < 15
    pipeline.stop()
    failed = _failed_logins_after(secure_kafka.broker, before, settle_s=3)
    print(f"pipeline start with a wrong password: refused after {took:.1f} s, {failed} failed login(s)")
    assert 1 <= failed <= MAX_ATTEMPTS  # and no more later


def test_app_pipeline_untrusted_certificate_stops_with_the_reason(secure_kafka, secured_influx):
    profile = save_profile(secure_kafka, secured_influx, ca=secure_kafka.pki.stranger_ca)
    pipeline = _pipeline(profile.name)
    with pytest.raises(StoreError, match="TLS certificate is not trusted by the CA file"):
        pipeline.start()
    pipeline.stop()


def test_missing_topic_is_named_and_not_created(secure_kafka, secured_influx, server_without_keyring):
    plain = AdminClient({"bootstrap.servers": secure_kafka.broker.bootstrap_servers})
    plain.delete_topics([NEWS])[NEWS].result(30)
    try:
        deadline = time.monotonic() + 20
        while NEWS in plain.list_topics(timeout=10).topics and time.monotonic() < deadline:
            time.sleep(0.2)
        profile = save_profile(secure_kafka, secured_influx)
        from backend.remote_stack import load_secrets

        finding = check_profile(profile, load_secrets(profile.name), timeout_s=15)[0]
        assert (finding.ok, finding.problem) == (False, "missing")
        assert "the topic news-articles is missing" in finding.message
        pipeline = _pipeline(profile.name)
        with pytest.raises(StoreError, match="the topic news-articles is missing.*creates nothing on a stack"):
            pipeline.start()
        pipeline.stop()
        collector = _collect(tickerwire_home(), "--stack-profile", profile.name, "--demo", "--watch", "MSNG",
                             "--exit-after", "30", timeout=60)
        assert collector.returncode == 2, collector.stderr[-3000:]
        assert "the topic news-articles is missing" in collector.stderr
        time.sleep(1)
        assert NEWS not in plain.list_topics(timeout=10).topics  # neither the app nor the collector created it
        # … until asked: `tickerwire stack create-topics`, then the check passes.
        assert _stack_cli("create-topics", "--profile", profile.name, "--partitions", "1", "--replication", "1") == (
            0, f"created {NEWS}\n")
        assert NEWS in plain.list_topics(timeout=10).topics
        assert _stack_cli("test", "--profile", profile.name)[0] == 0
    finally:
        spec = next(s for s in default_topics(partitions=1) if s.name == NEWS)
        secure_kafka.broker.create_topics([spec])


def _stack_cli(*argv: str) -> tuple[int, str]:
    import io

    from app.cli import build_parser
    from stack.cli import run

    out, err = io.StringIO(), io.StringIO()
    status = run(build_parser().parse_args(["stack", *argv]), out, err)
    return status, out.getvalue() + err.getvalue()


def test_profile_from_the_command_line_with_secrets_from_the_environment(secure_kafka, secured_influx, monkeypatch):
    monkeypatch.setenv("TICKERWIRE_KAFKA_PASSWORD", PASSWORD)
    monkeypatch.setenv("TICKERWIRE_INFLUX_TOKEN", secured_influx.read_token)
    status, said = _stack_cli("profile", "set", "cli", "--kafka-bootstrap", secure_kafka.bootstrap,
                              "--kafka-protocol", "SASL_SSL", "--kafka-ca-file", str(secure_kafka.pki.ca),
                              "--kafka-mechanism", "SCRAM-SHA-256", "--kafka-username", "desk",
                              "--influx-url", secured_influx.url, "--influx-bucket", secured_influx.bucket,
                              "--secrets-from-env")
    assert status == 0 and said.startswith("saved cli; 2 secret(s) in"), said
    assert PASSWORD not in (tickerwire_home() / "settings.json").read_text()
    status, said = _stack_cli("test", "--profile", "cli")
    assert status == 0, said
    assert said.splitlines()[0].startswith("ok   Kafka: ") and said.splitlines()[1].startswith("ok   InfluxDB: ")
    monkeypatch.setenv("TICKERWIRE_KAFKA_PASSWORD", "wrong")
    assert _stack_cli("profile", "set", "cli", "--secrets-from-env")[0] == 0
    status, said = _stack_cli("test", "--profile", "cli")
    assert status == 1 and "FAIL Kafka: the brokers refused the login of 'desk'" in said


# --- InfluxDB with authentication ---------------------------------------------------------------------------------------


def _write(influx, token: str, line: str) -> int:
    request = urllib.request.Request(f"{influx.url}/api/v2/write?bucket={influx.bucket}&precision=ms",
                                     data=line.encode(), method="POST",
                                     headers={"Authorization": f"Token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_influx_read_token_cannot_write_and_the_app_reads_with_it(secure_kafka, secured_influx):
    from backend.stores.influx import InfluxSettings, InfluxStore

    symbol = f"R{uuid.uuid4().hex[:3].upper()}"
    assert _write(secured_influx, secured_influx.read_token, f"candles,symbol={symbol} close=1 1") == 403
    # The sink's side (the collector's profile holds the write token) writes.
    writer = InfluxStore(InfluxSettings(url=secured_influx.url, token=secured_influx.write_token,
                                        bucket=secured_influx.bucket, retention_days=None,
                                        create_bucket=False))
    candle = Candle(symbol, Timeframe.M1, 1_700_000_000_000, 1.0, 2.0, 0.5, 1.5, 10.0, 1.2, 3)
    writer.upsert_candles([candle])
    writer.close()
    # The app's read path, built from a desk's profile, reads it with the read-only token.
    profile = save_profile(secure_kafka, secured_influx)
    pipeline = _pipeline(profile.name, symbols=(symbol,))
    pipeline.start()
    try:
        assert pipeline.processor.store.settings.token == secured_influx.read_token
        series = pipeline.load_candles(symbol, Timeframe.M1).result(30)
        assert list(series.close) == [1.5]
    finally:
        pipeline.stop()
    # and a write through that read token is refused: the desk cannot write even by mistake
    reader = InfluxStore(InfluxSettings(url=secured_influx.url, token=secured_influx.read_token,
                                        bucket=secured_influx.bucket, retention_days=None,
                                        create_bucket=False, max_retries=0))
    try:
        with pytest.raises(StoreError, match=r"InfluxDB refused the write \(403\)"):
            reader.upsert_candles([candle])
    finally:
        try:
            reader.close()
        except StoreError:
            pass


# --- the collector ----------------------------------------------------------------------------------------------------


@pytest.fixture
def server_without_keyring():
    """As on a server or in a container: no OS keyring, so a profile's secrets live in its private file."""
    import keyring
    from keyring.backends.fail import Keyring

    previous = keyring.get_keyring()
    keyring.set_keyring(Keyring())
    yield
    keyring.set_keyring(previous)


def _collect(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "TICKERWIRE_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "app.cli", "collect", "--pipeline", "stack", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _count_prices(secure_kafka, symbol: str) -> int:
    consumer = Consumer({**client_config(secure_kafka.bootstrap, secure_kafka.security()),
                         "group.id": f"t-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(PRICES, 0, 0)])
        seen, idle = 0, time.monotonic() + 10
        while time.monotonic() < idle:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                idle = time.monotonic() + 2
                seen += msg.key() == symbol.encode()
        return seen
    finally:
        consumer.close()


def test_collector_publishes_to_the_remote_kafka_with_its_profile(secure_kafka, secured_influx, server_without_keyring):
    profile = save_profile(secure_kafka, secured_influx, name="server")
    result = _collect(tickerwire_home(), "--stack-profile", "server", "--demo", "--speed", "60",
                      "--watch", "CLCT", "--exit-after", "6")
    assert result.returncode == 0, result.stderr[-3000:]
    assert PASSWORD not in result.stderr + result.stdout
    assert "SASL_SSL, SCRAM-SHA-256 as desk" in result.stderr
    assert _count_prices(secure_kafka, "CLCT") > 0
    assert profile.name == "server"


@pytest.mark.parametrize("case, expected", [
    ("password", "refused the login of 'desk' with SCRAM-SHA-256: wrong user name or password"),
    ("certificate", "TLS certificate is not trusted by the CA file"),
])
def test_collector_refused_exits_2_with_the_reason_and_no_retry_storm(secure_kafka, secured_influx, case, expected,
                                                                     server_without_keyring):
    if case == "password":
        save_profile(secure_kafka, secured_influx, name="server", password="wrong")
    else:
        save_profile(secure_kafka, secured_influx, name="server", ca=secure_kafka.pki.stranger_ca)
    before = secure_kafka.broker.failed_logins()
    result = _collect(tickerwire_home(), "--stack-profile", "server", "--demo", "--watch", "CLCT",
                      "--exit-after", "30", timeout=60)
    assert result.returncode == 2, result.stderr[-3000:]
    assert expected in result.stderr
    assert "wrong" not in result.stderr.replace("wrong user name", "")  # the password is never logged
    assert result.stderr.count(expected) <= 2  # said once (plus the summary line), not once per retry
    assert _failed_logins_after(secure_kafka.broker, before) <= MAX_ATTEMPTS
