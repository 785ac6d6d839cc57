"""Bad input and bad weather against a real influxd: rejected points are kept, an absent server is reported."""

from __future__ import annotations

import json
import time

import pytest

from backend.model import Candle, Timeframe
from backend.stores.base import StoreError
from backend.stores.influx import Health, InfluxSettings, InfluxStore
from stack.local.influxdb import InfluxServer

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
MONDAY_MS = 1_748_871_000_000  # 2025-06-02 13:30 UTC


def candle(start_ms: int, symbol: str = "AAPL", close: float = 100.0) -> Candle:
    return Candle(symbol, Timeframe.M1, start_ms, close, close + 1, close - 1, close, 500.0, close, 7)


def test_field_type_conflict_is_kept_with_its_reason_and_the_rest_is_written(influx_store_factory, tmp_path):
    letters_file = tmp_path / "dead.jsonl"
    states = []
    store = influx_store_factory(dead_letter_path=letters_file, on_health=states.append)
    # Someone wrote `trades` as a float into this week's shard: integer trades now conflict there.
    store._post([f"candles,symbol=ZZZ,timeframe=1m trades=1.5 {MONDAY_MS}"])
    two_weeks_earlier = candle(MONDAY_MS - 14 * DAY_MS)  # a different shard group: no conflict
    bad = candle(MONDAY_MS + 60_000, "MSFT")  # lands in the poisoned week
    # Also in another shard group. (Not after the poisoned week: InfluxDB 1.x reads a field with the type
    # of the first shard it meets, so integer `trades` stored after a float week read back empty.)
    one_week_earlier = candle(MONDAY_MS - 7 * DAY_MS)

    store.upsert_candles([two_weeks_earlier, bad, one_week_earlier])

    assert [d.line.split(" ")[0] for d in store.dead_letters] == ["candles,symbol=MSFT,timeframe=1m"]
    letter = store.dead_letters[0]
    assert letter.status == 400
    assert "field type conflict" in letter.reason and "trades" in letter.reason
    assert letter.line.endswith(f" {MONDAY_MS + 60_000}")
    assert json.loads(letters_file.read_text().splitlines()[0])["line"] == letter.line
    assert store.health == Health.DEGRADED
    assert states[-1].health == Health.DEGRADED and "field type conflict" in states[-1].detail
    assert store.candles("AAPL", Timeframe.M1) == [two_weeks_earlier, one_week_earlier]


def test_a_rejected_point_can_be_retried_after_the_cause_is_fixed(influx_store_factory):
    store = influx_store_factory()
    store._post([f"candles,symbol=ZZZ,timeframe=1m trades=1.5 {MONDAY_MS}"])
    store.upsert_candles([candle(MONDAY_MS)])
    assert len(store.dead_letters) == 1
    store.retention.influxql("DROP MEASUREMENT candles", database=store.settings.bucket.split("/")[0])

    assert store.retry_dead_letters() == 1

    assert store.dead_letters == []
    assert store.candles("AAPL", Timeframe.M1) == [candle(MONDAY_MS)]


def test_non_finite_values_are_dead_lettered_before_sending(influx_store):
    influx_store.upsert_candles([candle(MONDAY_MS, close=float("nan")), candle(MONDAY_MS + 60_000)])

    assert len(influx_store.dead_letters) == 1
    assert "non-finite" in influx_store.dead_letters[0].reason
    assert [c.start_ms for c in influx_store.candles("AAPL", Timeframe.M1)] == [MONDAY_MS + 60_000]


def test_opening_against_a_closed_port_raises_store_error():
    from stack.local.influxdb import free_port

    with pytest.raises(StoreError, match="unreachable"):
        InfluxStore(InfluxSettings(url=f"http://127.0.0.1:{free_port()}", timeout_ms=1000))


def test_server_loss_is_reported_its_return_noticed_and_a_failed_write_keeps_nothing_to_post_later(
        influxd_binary, tmp_path):
    server = InfluxServer(influxd_binary, root=tmp_path / "influx").start()
    states = []
    store = InfluxStore(
        InfluxSettings(url=server.url, bucket="tw/hot", retention_days=None, max_retries=2, retry_base_s=0.01,
                       batch_size=50, timeout_ms=2000, check_interval_s=0.05),
        on_health=states.append,
    )
    try:
        store.upsert_candles([candle(MONDAY_MS)])
        server.stop(keep_data=True)
        later = [candle(MONDAY_MS + i * 60_000) for i in range(1, 51)]

        with pytest.raises(StoreError, match="unreachable"):
            store.upsert_candles(later)
        assert store.health == Health.UNREACHABLE
        assert states[-1].health == Health.UNREACHABLE
        with pytest.raises(StoreError):
            store.candles("AAPL", Timeframe.M1)

        server.start()  # same port, same data directory
        deadline = time.monotonic() + 30
        while store.health != Health.OK and time.monotonic() < deadline:  # no call of ours: the thread notices
            time.sleep(0.05)
        assert states[-1].health == Health.OK
        assert [c.start_ms for c in store.candles("AAPL", Timeframe.M1)] == [MONDAY_MS]  # nothing posted late
        store.upsert_candles(later)  # the writer's input (a Kafka topic) hands them over again

        got = store.candles("AAPL", Timeframe.M1)
        assert [c.start_ms for c in got] == [MONDAY_MS + i * 60_000 for i in range(51)]
    finally:
        store.close()
        server.stop()


def test_wrong_database_is_misconfiguration_not_dead_letters(influx_store_factory):
    store = influx_store_factory(bucket="does_not_exist/autogen", create_bucket=False)

    with pytest.raises(StoreError, match="404"):
        store.upsert_candles([candle(MONDAY_MS)])

    assert store.health == Health.MISCONFIGURED
    assert store.dead_letters == []
