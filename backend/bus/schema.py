"""Versioned JSON records on the Kafka topics: bars, articles, candles, news impacts and dead letters.

Every record is one flat JSON object with ``type`` and ``version`` fields (see
``docs/kafka-schema.md``). Bars keep the Polygon/Massive field names, so a bar is
about 200 bytes. ``decode_*`` functions check a payload and raise
:class:`SchemaError` whose ``reason`` says exactly what is wrong; the Flink job
applies the same rules (``resources/flink/``) and dead-letters with the same reasons.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import orjson

from backend.model import Article, Bar, Candle, NewsImpact, Timeframe, impact_from_dict, impact_to_dict

SCHEMA_VERSION = 1

BAR, ARTICLE, CANDLE, IMPACT, DEAD_LETTER = "bar", "article", "candle", "impact", "dead_letter"

#: Required numeric fields of a bar, in wire order; ``av, op, a, z`` are optional (default 0).
BAR_PRICE_FIELDS = ("o", "h", "l", "c", "v", "vw")
BAR_OPTIONAL_FIELDS = ("av", "op", "a", "z")


class SchemaError(ValueError):
    """A payload is not a valid record; ``reason`` is the human-readable cause."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True, frozen=True)
class DeadLetter:
    """A message the pipeline could not process, with where it came from and why."""

    source_topic: str
    partition: int
    offset: int
    key: str
    reason: str
    payload: str
    at_ms: int


def _dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode()


def _reject_constant(name: str) -> None:
    raise SchemaError(f"not valid JSON: {name} is not allowed")


def parse_object(payload: bytes | str) -> dict[str, Any]:
    """Parse a payload into a JSON object or raise :class:`SchemaError`."""
    try:
        data = json.loads(payload, parse_constant=_reject_constant)
    except SchemaError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise SchemaError(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SchemaError("not a JSON object")
    return data


def check_envelope(data: dict[str, Any], expected_type: str) -> None:
    """Check ``type`` and ``version``; raise :class:`SchemaError` naming the mismatch."""
    record_type = data.get("type")
    if record_type != expected_type:
        raise SchemaError(f"type: expected {expected_type!r}, got {record_type!r}")
    version = data.get("version")
    if not _is_int(version):
        raise SchemaError("version: missing or not an integer")
    if version != SCHEMA_VERSION:
        raise SchemaError(f"version: unsupported {version} (this reader understands {SCHEMA_VERSION})")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def _int_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not _is_int(value):
        raise SchemaError(f"{name}: missing or not an integer")
    if not -(2**63) <= value < 2**63:
        raise SchemaError(f"{name}: out of range")
    return value


def _number_field(data: dict[str, Any], name: str, *, required: bool = True) -> float:
    if name not in data and not required:
        return 0.0
    value = data.get(name)
    if not _is_number(value):
        raise SchemaError(f"{name}: missing or not a number")
    return float(value)


def _text_field(data: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value):
        raise SchemaError(f"{name}: missing or not a non-empty string")
    return value


def _text_list(data: dict[str, Any], name: str) -> frozenset[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SchemaError(f"{name}: not a list of strings")
    return frozenset(value)


# -- bars ---------------------------------------------------------------------------------------------------


def encode_bar(bar: Bar) -> bytes:
    """Serialise a bar (Polygon field names plus ``type``/``version``).

    The producer's hot path, on orjson: ~0.6 of the time of the fastest pure-Python encoding
    (a template filled with the numbers' ``repr``), which was most of the producer's time. orjson
    would write a non-finite number as ``null`` and refuses a lone surrogate in a string; such a
    bar takes the ``json.dumps`` path, which refuses the number with ``ValueError`` and escapes
    the surrogate.
    """
    record = _bar_record(bar)
    if all(map(_finite, bar[2:14])):
        try:
            return orjson.dumps(record)
        except TypeError:
            pass
    return _dumps(record)


def _bar_record(bar: Bar) -> dict[str, Any]:
    return {
        "type": BAR, "version": SCHEMA_VERSION, "ev": bar.ev, "sym": bar.symbol, "s": bar.start_ms,
        "e": bar.end_ms, "o": bar.open, "h": bar.high, "l": bar.low, "c": bar.close, "v": bar.volume,
        "vw": bar.vwap, "av": bar.accumulated_volume, "op": bar.official_open, "a": bar.day_vwap,
        "z": bar.avg_trade_size, "otc": bar.otc,
    }


_finite = math.isfinite


def bar_record_from_polygon(message: dict[str, Any]) -> dict[str, Any]:
    """Wrap one Polygon ``AM``/``A`` message (a dict from a websocket frame) as a v1 bar record."""
    return {"type": BAR, "version": SCHEMA_VERSION, **message}


def decode_bar(payload: bytes | str) -> Bar:
    """Parse and check a bar record.

    Raises:
        SchemaError: with the reason, e.g. ``"ev: expected 'A' or 'AM', got 'T'"``.
    """
    data = parse_object(payload)
    check_envelope(data, BAR)
    ev = data.get("ev")
    if ev not in ("A", "AM"):
        raise SchemaError(f"ev: expected 'A' or 'AM', got {ev!r}")
    symbol = _text_field(data, "sym")
    start, end = _int_field(data, "s"), _int_field(data, "e")
    o, h, l, c, v, vw = (_number_field(data, name) for name in BAR_PRICE_FIELDS)
    av, op, a, z = (_number_field(data, name, required=False) for name in BAR_OPTIONAL_FIELDS)
    if v < 0:
        raise SchemaError("v: negative volume")
    if z < 0:
        raise SchemaError("z: negative average trade size")
    otc = data.get("otc", False)
    if not isinstance(otc, bool):
        raise SchemaError("otc: not a boolean")
    return Bar(ev, symbol, start, end, o, h, l, c, v, vw, av, op, a, z, otc)


# -- articles -----------------------------------------------------------------------------------------------


def encode_article(article: Article) -> bytes:
    """Serialise an article; symbol and query sets become sorted lists."""
    record = {
        "type": ARTICLE, "version": SCHEMA_VERSION, "id": article.id, "published_ms": article.published_ms,
        "title": article.title, "url": article.url, "section": article.section, "summary": article.summary,
        "thumbnail": article.thumbnail, "symbols": sorted(article.symbols), "queries": sorted(article.queries),
        "updated_ms": article.updated_ms,
    }
    return _dumps(record)


def decode_article(payload: bytes | str) -> Article:
    """Parse and check an article record; raise :class:`SchemaError` with the reason."""
    data = parse_object(payload)
    check_envelope(data, ARTICLE)
    article_id = _text_field(data, "id")
    published = _int_field(data, "published_ms")
    title, url = _text_field(data, "title"), _text_field(data, "url")
    section = _text_field(data, "section", required=False)
    summary = _text_field(data, "summary", required=False)
    thumbnail = _text_field(data, "thumbnail", required=False)
    updated = _int_field(data, "updated_ms") if "updated_ms" in data else 0
    return Article(article_id, published, title, url, section, summary, thumbnail,
                   _text_list(data, "symbols"), _text_list(data, "queries"), updated)


# -- candles ------------------------------------------------------------------------------------------------


def candle_key(candle: Candle) -> str:
    """Kafka key of a candle on the ``candles`` topic: ``symbol|timeframe|start_ms``."""
    return f"{candle.symbol}|{candle.timeframe.value}|{candle.start_ms}"


def encode_candle(candle: Candle) -> bytes:
    """Serialise a candle."""
    record = {
        "type": CANDLE, "version": SCHEMA_VERSION, "symbol": candle.symbol, "timeframe": candle.timeframe.value,
        "start_ms": candle.start_ms, "open": candle.open, "high": candle.high, "low": candle.low,
        "close": candle.close, "volume": candle.volume, "vwap": candle.vwap, "trades": candle.trades,
    }
    return _dumps(record)


def decode_candle(payload: bytes | str) -> Candle:
    """Parse and check a candle record; raise :class:`SchemaError` with the reason."""
    data = parse_object(payload)
    check_envelope(data, CANDLE)
    symbol = _text_field(data, "symbol")
    try:
        timeframe = Timeframe.parse(data.get("timeframe"))
    except (ValueError, TypeError):
        raise SchemaError(f"timeframe: unknown {data.get('timeframe')!r}") from None
    start = _int_field(data, "start_ms")
    o, h, l, c, v, vw = (_number_field(data, name) for name in ("open", "high", "low", "close", "volume", "vwap"))
    trades = _int_field(data, "trades")
    return Candle(symbol, timeframe, start, o, h, l, c, v, vw, trades)


# -- news impacts -------------------------------------------------------------------------------------------


def impact_key(impact: NewsImpact) -> str:
    """Kafka key of an impact on the ``impacts`` topic: ``article_id|symbol``."""
    return f"{impact.article_id}|{impact.symbol}"


def encode_impact(impact: NewsImpact) -> bytes:
    """Serialise a news impact: its fields (``windows`` a list of objects) plus ``final``."""
    record = {"type": IMPACT, "version": SCHEMA_VERSION, **impact_to_dict(impact), "final": impact.final}
    return _dumps(record)


def decode_impact(payload: bytes | str) -> NewsImpact:
    """Parse and check an impact record; raise :class:`SchemaError` with the reason."""
    data = parse_object(payload)
    check_envelope(data, IMPACT)
    for name in ("article_id", "symbol"):
        _text_field(data, name)
    _int_field(data, "published_ms")
    windows = data.get("windows")
    if not isinstance(windows, list) or not all(isinstance(w, dict) for w in windows):
        raise SchemaError("windows: missing or not a list of objects")
    body = {k: v for k, v in data.items() if k not in ("type", "version", "final")}
    try:
        return impact_from_dict(body)
    except KeyError as exc:
        raise SchemaError(f"impact: missing field {exc.args[0]!r}") from None
    except TypeError as exc:
        raise SchemaError(f"impact: {exc}") from None


# -- dead letters -------------------------------------------------------------------------------------------


def encode_dead_letter(letter: DeadLetter) -> bytes:
    """Serialise a dead letter."""
    record = {"type": DEAD_LETTER, "version": SCHEMA_VERSION, "source_topic": letter.source_topic,
              "partition": letter.partition, "offset": letter.offset, "key": letter.key,
              "reason": letter.reason, "payload": letter.payload, "at_ms": letter.at_ms}
    return _dumps(record)


def decode_dead_letter(payload: bytes | str) -> DeadLetter:
    """Parse and check a dead-letter record; raise :class:`SchemaError` with the reason."""
    data = parse_object(payload)
    check_envelope(data, DEAD_LETTER)
    key = data.get("key")
    return DeadLetter(
        source_topic=_text_field(data, "source_topic"), partition=_int_field(data, "partition"),
        offset=_int_field(data, "offset"), key=key if isinstance(key, str) else "",
        reason=_text_field(data, "reason"), payload=_text_field(data, "payload", required=False),
        at_ms=_int_field(data, "at_ms"),
    )
