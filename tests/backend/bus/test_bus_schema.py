"""Unit tests of the versioned Kafka record schema: round trips, version check, clear reasons."""

from __future__ import annotations

import json
import math

import hypothesis
import hypothesis.strategies as st
import pytest

from backend.bus import schema
from backend.model import Article, Bar, Candle, Timeframe

BAR = Bar("AM", "BRK.B", 1738593060000, 1738593120000, 468.1, 469.119, 467.4147, 468.6316, 8937.0, 468.3163,
          8937.0, 467.5, 467.848, 273.0, otc=True)
ARTICLE = Article("technology/2025/feb/03/amazon", 1738590000000, "Amazon beats", "https://example.test/a",
                  "technology", "summary", "https://example.test/t.jpg", frozenset({"AMZN"}),
                  frozenset({"Amazon"}), 1738590100000)
CANDLE = Candle("AAPL", Timeframe.M15, 1738593000000, 228.9, 229.85, 228.44, 229.46, 871720.0, 229.1361, 12352)


def _bar_record(**changes):
    record = json.loads(schema.encode_bar(BAR))
    record.update(changes)
    return json.dumps(record)


def test_bar_round_trip_keeps_every_field_and_is_about_200_bytes():
    payload = schema.encode_bar(BAR)
    assert schema.decode_bar(payload) == BAR
    assert 150 <= len(payload) <= 260


def test_article_round_trip_keeps_sets():
    assert schema.decode_article(schema.encode_article(ARTICLE)) == ARTICLE


def test_candle_round_trip_and_key():
    assert schema.decode_candle(schema.encode_candle(CANDLE)) == CANDLE
    assert schema.candle_key(CANDLE) == "AAPL|15m|1738593000000"


def test_dead_letter_round_trip():
    letter = schema.DeadLetter("stock-prices", 2, 17, "AAPL", "v: negative volume", '{"v":-1}', 1738593060000)
    assert schema.decode_dead_letter(schema.encode_dead_letter(letter)) == letter


def test_polygon_message_wrapped_as_record_decodes():
    message = {"ev": "A", "sym": "AAPL", "v": 10, "av": 10, "op": 1.0, "vw": 2.0, "o": 2.0, "c": 2.0,
               "h": 2.5, "l": 1.5, "a": 2.0, "z": 5, "s": 1738593060000, "e": 1738593061000}
    bar = schema.decode_bar(json.dumps(schema.bar_record_from_polygon(message)))
    assert (bar.ev, bar.symbol, bar.volume, bar.trades) == ("A", "AAPL", 10.0, 2)


def test_newer_version_is_refused_with_both_versions_named():
    with pytest.raises(schema.SchemaError) as caught:
        schema.decode_bar(_bar_record(version=2))
    assert caught.value.reason == "version: unsupported 2 (this reader understands 1)"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ("[1,2]", "not a JSON object"),
        ('{"type":"bar","version":1,"v":NaN}', "not valid JSON: NaN is not allowed"),
        (_bar_record(type="candle"), "type: expected 'bar', got 'candle'"),
        (_bar_record(version="1"), "version: missing or not an integer"),
        (_bar_record(ev="T"), "ev: expected 'A' or 'AM', got 'T'"),
        (_bar_record(sym=""), "sym: missing or not a non-empty string"),
        (_bar_record(s=1738593060000.0), "s: missing or not an integer"),
        (_bar_record(o="228.9"), "o: missing or not a number"),
        (_bar_record(z=True), "z: missing or not a number"),
        (_bar_record(v=-1), "v: negative volume"),
        (_bar_record(otc="no"), "otc: not a boolean"),
    ],
)
def test_malformed_bar_gives_a_clear_reason(payload, reason):
    with pytest.raises(schema.SchemaError) as caught:
        schema.decode_bar(payload)
    assert caught.value.reason == reason
    assert str(caught.value) == reason


def test_invalid_json_reason_names_the_problem():
    with pytest.raises(schema.SchemaError) as caught:
        schema.decode_bar(b"{not json")
    assert caught.value.reason.startswith("not valid JSON: ")


def test_missing_optional_bar_fields_default_to_zero():
    record = json.loads(schema.encode_bar(BAR))
    for name in ("av", "op", "a", "z", "otc"):
        del record[name]
    bar = schema.decode_bar(json.dumps(record))
    assert (bar.accumulated_volume, bar.official_open, bar.day_vwap, bar.avg_trade_size, bar.otc) == (0, 0, 0, 0, False)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"symbols": "AMZN"}, "symbols: not a list of strings"),
        ({"published_ms": None}, "published_ms: missing or not an integer"),
        ({"title": ""}, "title: missing or not a non-empty string"),
    ],
)
def test_malformed_article_gives_a_clear_reason(changes, reason):
    record = json.loads(schema.encode_article(ARTICLE))
    record.update(changes)
    with pytest.raises(schema.SchemaError) as caught:
        schema.decode_article(json.dumps(record))
    assert caught.value.reason == reason


def test_candle_with_unknown_timeframe_is_refused():
    record = json.loads(schema.encode_candle(CANDLE))
    record["timeframe"] = "2m"
    with pytest.raises(schema.SchemaError) as caught:
        schema.decode_candle(json.dumps(record))
    assert caught.value.reason == "timeframe: unknown '2m'"


@hypothesis.given(
    ev=st.sampled_from(["A", "AM"]), symbol=st.text(min_size=1, max_size=8),
    times=st.tuples(st.integers(0, 2**53), st.integers(0, 2**53)),
    numbers=st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-2**60, 2**60)),
                     min_size=10, max_size=10),
    otc=st.booleans())
def test_fast_bar_encoding_reads_back_as_the_record_json_dumps_writes(ev, symbol, times, numbers, otc):
    bar = Bar(ev, symbol, *times, *numbers, otc=otc)
    expected = json.loads(json.dumps(schema._bar_record(bar), separators=(",", ":")))
    decoded = json.loads(schema.encode_bar(bar))
    assert decoded == expected
    assert [type(decoded[name]) for name in expected] == [type(expected[name]) for name in expected]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_is_refused_when_encoding_a_bar(bad):
    with pytest.raises(ValueError):
        schema.encode_bar(BAR._replace(close=bad))


def test_a_symbol_with_a_lone_surrogate_is_escaped_not_refused():
    # orjson refuses a lone surrogate; the encoder falls back to json.dumps, which escapes it.
    payload = schema.encode_bar(BAR._replace(symbol="X\ud800"))
    assert b"\\ud800" in payload
    assert json.loads(payload)["sym"] == "X\ud800"
