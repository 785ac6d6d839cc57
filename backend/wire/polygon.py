"""Polygon.io / Massive stocks websocket frames: parse into :class:`~backend.model.Bar` and status events.

A frame is a JSON array of messages. Aggregates (``AM`` per minute, ``A`` per second)
carry ``ev, sym, v, av, op, vw, o, c, h, l, a, z, s, e, otc`` with ``s``/``e`` in Unix
milliseconds; ``status`` messages report connection, auth and subscription results.
Anything else is rejected with a reason, never raised: a live source must survive
whatever the socket delivers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

from backend.model import Bar

AGGREGATE_EVENTS = ("AM", "A")
_REQUIRED = ("sym", "o", "h", "l", "c", "v", "s", "e")
#: Earliest and latest plausible bar times (1990 .. 2200): rejects seconds/ns mix-ups.
_MIN_MS, _MAX_MS = 631_152_000_000, 7_258_118_400_000


@dataclass(slots=True, frozen=True)
class Status:
    """A ``status`` message: ``connected``, ``auth_success``, ``auth_failed``, ``success``, ``error``…"""

    status: str
    message: str


@dataclass(slots=True)
class ParsedFrame:
    """What one frame held: bars, status messages, and the reasons anything was rejected."""

    bars: list[Bar] = field(default_factory=list)
    statuses: list[Status] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def parse_frame(frame: str | bytes) -> ParsedFrame:
    """Parse one websocket text frame. Never raises; bad content lands in ``rejected``."""
    out = ParsedFrame()
    try:
        data = json.loads(frame)
    except (ValueError, UnicodeDecodeError) as exc:
        out.rejected.append(f"frame is not JSON: {exc}")
        return out
    except RecursionError:  # absurdly deep nesting: json gives up by recursion, not ValueError
        out.rejected.append("frame is not usable JSON: nested too deeply")
        return out
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        out.rejected.append(f"frame is a JSON {type(data).__name__}, expected an array of messages")
        return out
    parse_messages(data, out)
    return out


def parse_messages(messages: Iterable[Any], out: ParsedFrame) -> ParsedFrame:
    """Parse already-decoded messages (dicts) into ``out``."""
    for msg in messages:
        if not isinstance(msg, dict):
            out.rejected.append(f"message is a {type(msg).__name__}, expected an object")
            continue
        ev = msg.get("ev")
        if ev in AGGREGATE_EVENTS:
            bar, reason = bar_from_message(msg)
            if bar is not None:
                out.bars.append(bar)
            else:
                out.rejected.append(reason)
        elif ev == "status":
            out.statuses.append(Status(str(msg.get("status", "")), str(msg.get("message", ""))))
        else:
            out.rejected.append(f"unknown event type {ev!r}")
    return out


def bar_from_message(msg: dict) -> tuple[Bar | None, str]:
    """Build a Bar from one ``AM``/``A`` message, or return ``(None, reason)``."""
    missing = [k for k in _REQUIRED if k not in msg]
    if missing:
        return None, f"{msg.get('ev')} message lacks {', '.join(missing)}"
    sym = msg["sym"]
    if not isinstance(sym, str) or not sym or len(sym) > 16:
        return None, f"bad symbol {sym!r}"
    try:
        o, h, l, c = float(msg["o"]), float(msg["h"]), float(msg["l"]), float(msg["c"])
        v = float(msg["v"])
        vw = float(msg.get("vw", c))
        s, e = msg["s"], msg["e"]
        if isinstance(s, bool) or isinstance(e, bool) or not isinstance(s, int) or not isinstance(e, int):
            return None, f"{sym}: s/e must be integer milliseconds, got {s!r}/{e!r}"
        extra = (float(msg.get("av", 0)), float(msg.get("op", 0)), float(msg.get("a", 0)), float(msg.get("z", 0)))
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: a huge JSON integer
        return None, f"{sym}: non-numeric field ({exc})"
    values = (o, h, l, c, v, vw) + extra
    if not all(math.isfinite(x) for x in values):
        return None, f"{sym}: non-finite number"
    if not (_MIN_MS <= s < _MAX_MS) or e < s:
        return None, f"{sym}: implausible times s={s} e={e} (expected Unix milliseconds)"
    if v < 0 or min(o, h, l, c) <= 0 or h < max(o, c, l) or l > min(o, c):
        return None, f"{sym}: inconsistent OHLCV o={o} h={h} l={l} c={c} v={v}"
    return (
        Bar(
            ev=msg["ev"], symbol=sym, start_ms=s, end_ms=e, open=o, high=h, low=l, close=c,
            volume=v, vwap=vw, accumulated_volume=extra[0], official_open=extra[1],
            day_vwap=extra[2], avg_trade_size=extra[3], otc=bool(msg.get("otc", False)),
        ),
        "",
    )


def bar_to_message(bar: Bar) -> dict:
    """Encode a Bar as the provider's message (used by demo feeds and local test servers)."""
    msg = {
        "ev": bar.ev, "sym": bar.symbol, "v": bar.volume, "av": bar.accumulated_volume,
        "op": bar.official_open, "vw": bar.vwap, "o": bar.open, "c": bar.close, "h": bar.high,
        "l": bar.low, "a": bar.day_vwap, "z": bar.avg_trade_size, "s": bar.start_ms, "e": bar.end_ms,
    }
    if bar.otc:
        msg["otc"] = True
    return msg


def encode_frame(bars: Iterable[Bar]) -> str:
    """Encode bars as one websocket text frame."""
    return json.dumps([bar_to_message(b) for b in bars], separators=(",", ":"))
