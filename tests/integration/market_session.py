"""Recorded and generated market sessions in the Polygon wire format, and a Kafka → SQLite candle sink.

``generated_frames`` writes a deterministic session as websocket text frames: ``A`` second
bars and ``AM`` minute bars for several symbols across New York midnight, with the cases
that make candle aggregation hard — ``A``-only minutes, ``AM`` overriding seconds, seconds
arriving after their ``AM`` bar, corrections of seconds and of earlier minutes, zero-volume
seconds, trade counts on rounding ties and prices with full double precision.
"""

from __future__ import annotations

import json
from collections import Counter
import math
import random
import time
from pathlib import Path

from backend.bus import schema
from backend.bus.kafka import CANDLES, PRICES, KafkaPublisher, SinkConsumer, candle_writer
from backend.model import Bar, Candle, Timeframe
from backend.stores.sqlite import SqliteStore
from backend.wire.polygon import parse_frame

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDED_SESSION = REPO_ROOT / "resources" / "sessions" / "2025-02-03" / "polygon.jsonl"
#: 2025-02-04 04:00 UTC = 23:00 in New York: a two-hour session crosses New York midnight.
GENERATED_START_MS = 1_738_641_600_000
REL_TOL = 1e-9


def recorded_bars() -> list[Bar]:
    """Bars of the recorded sample session (AAPL, AMZN, BRK.B; one correction)."""
    return [bar for line in RECORDED_SESSION.read_text().splitlines() for bar in parse_frame(line).bars]


def _message(ev: str, sym: str, start: int, length: int, rng: random.Random, price: float) -> dict:
    o = price * (1 + rng.gauss(0, 0.001))
    c = price * (1 + rng.gauss(0, 0.001))
    h = max(o, c) * (1 + abs(rng.gauss(0, 0.0005)))
    l = min(o, c) * (1 - abs(rng.gauss(0, 0.0005)))
    tie = rng.random()
    if tie < 0.05:
        v, z = rng.choice([(150, 100), (250, 100), (50, 100), (350, 100)])  # x.5 trades: ties to even
    else:
        v, z = rng.randint(1, 5_000), rng.choice([0, 37.5, 63, 100.25, 250])
    return {"ev": ev, "sym": sym, "v": v, "av": v * 10, "op": price, "vw": (o + c + h + l) / 4, "o": o, "c": c,
            "h": h, "l": l, "a": price, "z": z, "s": start, "e": start + length}


def generated_frames(symbols: list[str], minutes: int = 120, seed: int = 42,
                     start_ms: int = GENERATED_START_MS) -> list[str]:
    """Deterministic session as websocket text frames, in arrival order."""
    rng = random.Random(seed)
    prices = {sym: 50 + 400 * rng.random() for sym in symbols}
    frames: list[str] = []
    sent_am: list[dict] = []
    for m in range(minutes):
        minute = start_ms + m * 60_000
        pending: list[dict] = []
        for sym in symbols:
            prices[sym] *= 1 + rng.gauss(0, 0.002)
            mode = rng.random()
            seconds = sorted(rng.sample(range(60), rng.randint(1, 12)))
            a_bars = [_message("A", sym, minute + s * 1000, 1000, rng, prices[sym]) for s in seconds]
            if rng.random() < 0.1:
                a_bars[0]["v"] = 0  # a zero-volume second
            if rng.random() < 0.3:  # a corrected second arrives later in the minute
                fix = dict(rng.choice(a_bars))
                fix.update(_message("A", sym, fix["s"], 1000, rng, prices[sym]))
                a_bars.append(fix)
            am = _message("AM", sym, minute, 60_000, rng, prices[sym])
            if mode < 0.3:
                pending += [am]
            elif mode < 0.6:
                pending += a_bars
            elif mode < 0.85:
                pending += a_bars + [am]
            else:
                pending += [am] + a_bars  # seconds after their minute bar: ignored
            if mode < 0.3 or mode >= 0.6:
                sent_am.append(am)
        if sent_am and rng.random() < 0.3:  # re-send an earlier minute bar with corrections
            old = dict(rng.choice(sent_am[-40:]))
            old.update({"v": old["v"] + rng.randint(1, 999), "h": old["h"] * 1.001})
            pending.append(old)
        for i in range(0, len(pending), 7):
            frames.append(json.dumps(pending[i:i + 7], separators=(",", ":")))
    return frames


def bars_of(frames: list[str]) -> list[Bar]:
    """Parse frames into bars; fail loudly on any rejected message (the generator must be valid)."""
    bars: list[Bar] = []
    for frame in frames:
        parsed = parse_frame(frame)
        assert not parsed.rejected, parsed.rejected
        bars.extend(parsed.bars)
    return bars


def publish(publisher: KafkaPublisher, bars: list[Bar], topic: str = PRICES) -> None:
    """Publish bars in order and wait until every one is delivered."""
    for bar in bars:
        publisher.produce(topic, bar.symbol, schema.encode_bar(bar))
        publisher.poll(0)
    publisher.flush(120)


class CandleSink:
    """A real at-least-once sink: ``candles`` topic → SQLite store (upserts), offsets committed after writes."""

    def __init__(self, bootstrap_servers: str, group_id: str, db_path: Path) -> None:
        self.store = SqliteStore(db_path)
        self.consumer = SinkConsumer(bootstrap_servers, group_id, [CANDLES], candle_writer(self._write))
        self.received: Counter[str] = Counter()  # candle messages consumed, by symbol

    def _write(self, candles: list[Candle]) -> None:
        self.received.update(candle.symbol for candle in candles)
        self.store.upsert_candles(candles)
        self.store.flush()

    def candles_for(self, symbols: set[str]) -> dict[tuple[str, Timeframe, int], Candle]:
        """Everything the store holds for ``symbols``, keyed like the aggregator's output."""
        found = {}
        for sym in symbols:
            for tf in Timeframe:
                for candle in self.store.candles(sym, tf):
                    found[candle.key] = candle
        return found

    def wait_for(self, expected: dict[tuple[str, Timeframe, int], Candle], timeout: float) -> dict:
        """Consume until the store holds candles equal to ``expected`` for its symbols, or the timeout."""
        symbols = {key[0] for key in expected}
        deadline = time.monotonic() + timeout
        found: dict = {}
        while time.monotonic() < deadline:
            if self.consumer.poll_once(timeout=0.5) == 0:
                found = self.candles_for(symbols)
                if not differences(expected, found):
                    return found
        return self.candles_for(symbols)

    def close(self) -> None:
        self.consumer.close()
        self.store.close()


def _same(a: Candle, b: Candle) -> bool:
    numbers = ("open", "high", "low", "close", "volume", "vwap")
    return (a.trades == b.trades and all(
        math.isclose(getattr(a, f), getattr(b, f), rel_tol=REL_TOL, abs_tol=0.0) for f in numbers))


def differences(expected: dict, found: dict, limit: int = 10) -> list[str]:
    """Human-readable differences between two candle maps (missing, extra, unequal)."""
    problems = [f"missing {key}: {expected[key]}" for key in expected if key not in found]
    problems += [f"extra {key}: {found[key]}" for key in found if key not in expected]
    problems += [f"differs {key}:\n  expected {expected[key]}\n  found    {found[key]}"
                 for key in expected if key in found and not _same(expected[key], found[key])]
    return problems[:limit] + ([f"... {len(problems) - limit} more"] if len(problems) > limit else [])
