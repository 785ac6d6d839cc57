"""A deterministic fake stock market: the ground truth that the fake Polygon servers play.

Each :meth:`FakeMarket.advance` completes one (virtual) minute: per symbol three ``A``
second bars and the ``AM`` minute bar made of them (some symbols skip minutes: no trades,
no bar), and now and then a *correction* that re-issues an earlier minute with more
volume and a higher high, as Polygon does for up to ~15 minutes. :meth:`truth` is the
final value of every minute; the websocket server streams the same bars as they happen
and the REST server answers from the same table, so a client that misses nothing and
applies corrections as upserts ends with exactly :meth:`truth`.
"""

from __future__ import annotations

import random
import threading

MINUTE_MS = 60_000


class FakeMarket:
    """Minute-by-minute ground truth for some symbols (thread-safe)."""

    def __init__(self, symbols=("AAPL", "AMZN", "BRK.B"), start_ms: int = 1738593060000, seed: int = 1,
                 correction_every: int = 7, gap_every: dict | None = None) -> None:
        self.symbols = tuple(symbols)
        self.start_ms = start_ms - start_ms % MINUTE_MS
        self.next_minute = self.start_ms
        self._rng = random.Random(seed)
        self._price = {s: 100.0 + 50 * i for i, s in enumerate(self.symbols)}
        self._bars: dict[tuple[str, int], dict] = {}
        self._seconds: dict[tuple[str, int], list[dict]] = {}
        self._lock = threading.Lock()
        self._count = 0
        self.correction_every = correction_every
        self.gap_every = gap_every if gap_every is not None else {self.symbols[-1]: 5}

    def now_ms(self) -> int:
        """Virtual time: the start of the minute now in progress."""
        return self.next_minute

    def clock(self) -> float:
        """Virtual time in seconds (what a source's ``clock`` would return)."""
        return self.next_minute / 1000

    def advance(self) -> tuple[list[dict], list[dict], list[dict]]:
        """Complete one minute; return its ``AM`` messages, its ``A`` messages and any corrections."""
        with self._lock:
            minute = self.next_minute
            self._count += 1
            am, seconds = [], []
            for i, sym in enumerate(self.symbols):
                every = self.gap_every.get(sym, 0)
                if every and self._count % every == 0:
                    continue  # no trades this minute: nothing is sent
                parts = [self._second_bar(sym, minute + k * 20_000) for k in range(3)]
                bar = _minute_from(parts, sym, minute)
                self._bars[(sym, minute)] = bar
                self._seconds[(sym, minute)] = parts
                am.append(bar)
                seconds.extend(parts)
            corrections = []
            if self.correction_every and self._count % self.correction_every == 0:
                back = minute - MINUTE_MS * self._rng.randint(1, 5)
                for sym in self.symbols:
                    old = self._bars.get((sym, back))
                    if old is not None:
                        new = dict(old, v=old["v"] + 100, h=round(old["h"] + 0.05, 4), av=old["av"] + 100,
                                   n=old["n"] + 1)
                        new["z"] = new["v"] / new["n"]
                        self._bars[(sym, back)] = new
                        corrections.append(new)
                        break
            self.next_minute = minute + MINUTE_MS
            return am, seconds, corrections

    def _second_bar(self, sym: str, start: int) -> dict:
        p = self._price[sym]
        o = round(p, 4)
        c = round(max(1.0, p + self._rng.uniform(-0.5, 0.5)), 4)
        h = round(max(o, c) + self._rng.uniform(0, 0.2), 4)
        l = round(min(o, c) - self._rng.uniform(0, 0.2), 4)
        self._price[sym] = c
        v = float(self._rng.randint(1, 50) * 100)
        n = self._rng.randint(1, 20)
        return {"ev": "A", "sym": sym, "v": v, "av": 0.0, "op": 0.0, "vw": round((o + c) / 2, 4), "o": o, "c": c,
                "h": h, "l": l, "a": 0.0, "z": v / n, "s": start, "e": start + 1000, "n": n}

    def truth(self) -> dict[tuple[str, int], dict]:
        """Every minute's final bar, keyed by (symbol, minute start)."""
        with self._lock:
            return dict(self._bars)

    def aggs(self, symbol: str, from_ms: int, to_ms: int) -> list[dict]:
        """REST aggregate results (``o h l c v vw t n``) of completed minutes in ``[from_ms, to_ms]``, ascending."""
        with self._lock:
            rows = [b for (s, t), b in self._bars.items() if s == symbol and from_ms <= t <= to_ms]
        rows.sort(key=lambda b: b["s"])
        return [{"v": b["v"], "vw": b["vw"], "o": b["o"], "c": b["c"], "h": b["h"], "l": b["l"], "t": b["s"],
                 "n": b["n"]} for b in rows]


def _minute_from(parts: list[dict], sym: str, minute: int) -> dict:
    v = sum(p["v"] for p in parts)
    n = sum(p["n"] for p in parts)
    return {"ev": "AM", "sym": sym, "v": v, "av": v, "op": parts[0]["o"],
            "vw": round(sum(p["vw"] * p["v"] for p in parts) / v, 4), "o": parts[0]["o"], "c": parts[-1]["c"],
            "h": max(p["h"] for p in parts), "l": min(p["l"] for p in parts), "a": 0.0, "z": v / n,
            "s": minute, "e": minute + MINUTE_MS, "n": n}


def wire(msg: dict) -> dict:
    """The message as the websocket sends it (without the fake's bookkeeping field ``n``)."""
    return {k: v for k, v in msg.items() if k != "n"}
