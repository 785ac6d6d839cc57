"""Chart indicators computed incrementally over a growing close-price column (numpy only, no Qt).

Four kinds, named in settings as ``"<kind>:<period>"`` (Bollinger bands take the width too,
``"bb:20:2"``):

* ``sma`` — simple moving average of the last ``period`` closes;
* ``ema`` — exponential moving average, ``alpha = 2 / (period + 1)``, seeded with the first close;
* ``bb`` — Bollinger bands: the ``period`` SMA and ± ``width`` population standard deviations;
* ``rsi`` — Wilder's relative strength index (gains and losses smoothed with ``alpha = 1 / period``,
  seeded with their plain average over the first ``period`` changes).

An :class:`IndicatorColumns` keeps its outputs aligned with the chart's candle indices and
recomputes only from the first changed index: a live tick recomputes one value from the state
at the previous index, an appended candle one more, a corrected older candle everything after it
(an EMA depends on all earlier closes). Values not yet defined (the warm-up) are NaN.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from app.chart.extent import BlockExtent

KINDS = ("sma", "ema", "bb", "rsi")
MAX_PERIOD = 500
_SPEC_RE = re.compile(r"^(sma|ema|bb|rsi):(\d{1,3})(?::(\d+(?:\.\d+)?))?$")

#: What the chooser offers (a settings value may name any valid period).
PRESETS = ("ema:9", "ema:20", "ema:50", "sma:20", "sma:50", "sma:200", "bb:20:2", "rsi:14")


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """One indicator: kind, period and (Bollinger) band width in standard deviations."""

    kind: str
    period: int
    width: float = 2.0

    @classmethod
    def parse(cls, text: str) -> "IndicatorSpec":
        """``"ema:20"``, ``"bb:20:2"`` → a spec; raise ``ValueError`` saying what is wrong."""
        m = _SPEC_RE.match(text.strip().lower()) if isinstance(text, str) else None
        if m is None:
            raise ValueError(f"indicator {text!r} is not <kind>:<period> with kind one of {', '.join(KINDS)} "
                             "(e.g. ema:20, bb:20:2)")
        kind, period = m.group(1), int(m.group(2))
        if not 2 <= period <= MAX_PERIOD:
            raise ValueError(f"indicator {text!r}: the period must be 2 to {MAX_PERIOD}")
        if m.group(3) is not None and kind != "bb":
            raise ValueError(f"indicator {text!r}: only bb takes a band width")
        width = float(m.group(3)) if m.group(3) is not None else 2.0
        if not 0.5 <= width <= 5:
            raise ValueError(f"indicator {text!r}: the band width must be 0.5 to 5 standard deviations")
        return cls(kind, period, width)

    @property
    def key(self) -> str:
        """The settings form."""
        return f"bb:{self.period}:{self.width:g}" if self.kind == "bb" else f"{self.kind}:{self.period}"

    @property
    def label(self) -> str:
        """How the chooser and the chart's legend name it."""
        if self.kind == "bb":
            return f"Bollinger {self.period}, {self.width:g}σ"
        return f"{self.kind.upper()} {self.period}"

    @property
    def outputs(self) -> tuple[str, ...]:
        return ("upper", "middle", "lower") if self.kind == "bb" else ("value",)

    @property
    def pane(self) -> str:
        """``"price"`` (drawn over the candles) or ``"rsi"`` (its own 0–100 pane)."""
        return "rsi" if self.kind == "rsi" else "price"


def parse_specs(values) -> list[IndicatorSpec]:
    """Settings list → specs (duplicates dropped, order kept); raise ``ValueError`` naming the bad one."""
    if not isinstance(values, (list, tuple)):
        raise ValueError("indicators must be a list such as ['ema:20', 'rsi:14']")
    out: dict[str, IndicatorSpec] = {}
    for v in values:
        spec = IndicatorSpec.parse(v)
        out.setdefault(spec.key, spec)
    return list(out.values())


# -- kernels ----------------------------------------------------------------------------------------


def ema_run(x: np.ndarray, alpha: float, previous: float) -> np.ndarray:
    """``y[i] = (1 - alpha) * y[i-1] + alpha * x[i]`` with ``y[-1] = previous``, vectorised.

    Within a block of ``m`` values ``y[k] = b**(k+1) * (previous + alpha * sum_j≤k b**-(j+1) x[j])``
    with ``b = 1 - alpha``; blocks are short enough that ``b**-m`` stays below 1e100, and every
    term has the sign of the data, so nothing cancels.
    """
    n = len(x)
    out = np.empty(n)
    if n == 0:
        return out
    b = 1.0 - alpha
    if b <= 0.0:
        out[:] = x
        return out
    block = max(1, min(n, int(100 * math.log(10) / -math.log(b))))
    k = np.arange(1, block + 1, dtype=float)
    up, down = b ** k, b ** -k  # b^(k+1) and b^-(j+1) for k, j = 0..block-1
    y = float(previous)
    for s in range(0, n, block):
        xs = x[s:s + block]
        m = len(xs)
        acc = np.cumsum(xs * down[:m])
        seg = up[:m] * (y + alpha * acc)
        out[s:s + m] = seg
        y = float(seg[-1])
    return out


def _window_means(x: np.ndarray, period: int) -> np.ndarray:
    """Mean of each full ``period`` window of ``x`` (``len(x) - period + 1`` values)."""
    c = np.cumsum(np.r_[0.0, x])
    return (c[period:] - c[:-period]) / period


class IndicatorColumns:
    """One indicator's outputs over a candle series, recomputed from a changed index onward.

    ``outputs[name]`` are arrays with spare capacity (like the chart's columns); entries ``[0, n)``
    are valid, NaN during the warm-up.
    """

    def __init__(self, spec: IndicatorSpec, capacity: int = 1024) -> None:
        self.spec = spec
        self.n = 0
        self.outputs = {name: np.full(capacity, np.nan) for name in spec.outputs}
        self._extents = {name: BlockExtent() for name in spec.outputs}
        # Running state: the unmasked EMA for ema, the smoothed gain/loss for rsi.
        self._state = {name: np.full(capacity, np.nan) for name in self._state_names()}

    def _state_names(self) -> tuple[str, ...]:
        return {"ema": ("ema",), "rsi": ("gain", "loss")}.get(self.spec.kind, ())

    def update(self, close: np.ndarray, n: int, frm: int) -> None:
        """The closes ``close[:n]`` changed from index ``frm`` on (inserted, corrected or appended)."""
        self._reserve(n)
        frm = max(0, min(frm, self.n, n))
        self.n = n
        if frm >= n:
            return
        if frm == n - 1 and n > self.spec.period + 1:
            self._last(close, n - 1)  # a live tick or a new candle: one value, in plain float arithmetic
        else:
            getattr(self, f"_{self.spec.kind}")(close, n, frm)
        for name, ext in self._extents.items():
            ext.update(self.outputs[name], n, frm)

    def _last(self, close: np.ndarray, i: int) -> None:
        """The value at ``i`` from the state at ``i - 1`` (the same formulas as the vectorised kinds)."""
        p, kind, x = self.spec.period, self.spec.kind, float(close[i])
        if kind == "ema":
            alpha = 2.0 / (p + 1)
            value = (1.0 - alpha) * float(self._state["ema"][i - 1]) + alpha * x
            self._state["ema"][i] = value
            self.outputs["value"][i] = value
        elif kind == "rsi":
            d = x - float(close[i - 1])
            gain = (1.0 - 1.0 / p) * float(self._state["gain"][i - 1]) + max(d, 0.0) / p
            loss = (1.0 - 1.0 / p) * float(self._state["loss"][i - 1]) + max(-d, 0.0) / p
            self._state["gain"][i], self._state["loss"][i] = gain, loss
            self.outputs["value"][i] = (100.0 - 100.0 / (1.0 + gain / loss) if loss > 0
                                        else (100.0 if gain > 0 else 50.0))
        else:
            window = close[i - p + 1:i + 1]
            mean = float(window.mean())
            if kind == "sma":
                self.outputs["value"][i] = mean
            else:
                std = float(window.std())
                self.outputs["middle"][i] = mean
                self.outputs["upper"][i] = mean + self.spec.width * std
                self.outputs["lower"][i] = mean - self.spec.width * std

    def values(self, name: str = "value") -> np.ndarray:
        return self.outputs[name][:self.n]

    def extent(self, i0: int, i1: int) -> tuple[float, float] | None:
        """(min, max) of the outputs over ``[i0, i1)`` ignoring NaN, or None if all are NaN."""
        lo, hi = math.inf, -math.inf
        if i1 <= i0:
            return None
        for name, arr in self.outputs.items():
            low, high = self._extents[name].extent(arr, i0, i1)  # NaN only if all are NaN
            if low == low:
                lo, hi = min(lo, low), max(hi, high)
        return None if lo > hi else (lo, hi)

    def _reserve(self, n: int) -> None:
        size = len(next(iter(self.outputs.values())))
        if n <= size:
            return
        size = max(n, size * 2)
        for table in (self.outputs, self._state):
            for name, old in table.items():
                new = np.full(size, np.nan)
                new[:self.n] = old[:self.n]
                table[name] = new

    # -- kinds --------------------------------------------------------------------------------

    def _sma(self, close, n, frm):
        p = self.spec.period
        out = self.outputs["value"]
        out[frm:min(n, p - 1)] = np.nan
        first = max(frm, p - 1)
        if first < n:
            out[first:n] = _window_means(close[first - p + 1:n], p)

    def _bb(self, close, n, frm):
        p, k = self.spec.period, self.spec.width
        up, mid, lo = self.outputs["upper"], self.outputs["middle"], self.outputs["lower"]
        for arr in (up, mid, lo):
            arr[frm:min(n, p - 1)] = np.nan
        first = max(frm, p - 1)
        if first < n:
            windows = sliding_window_view(close[first - p + 1:n], p)
            mean = windows.mean(axis=1)
            std = windows.std(axis=1)
            mid[first:n], up[first:n], lo[first:n] = mean, mean + k * std, mean - k * std

    def _ema(self, close, n, frm):
        p = self.spec.period
        ema, out = self._state["ema"], self.outputs["value"]
        run = frm
        if run == 0:
            ema[0] = close[0]
            run = 1
        if run < n:
            ema[run:n] = ema_run(close[run:n], 2.0 / (p + 1), ema[run - 1])
        out[frm:n] = ema[frm:n]
        out[frm:min(n, p - 1)] = np.nan

    def _rsi(self, close, n, frm):
        p = self.spec.period
        gain, loss, out = self._state["gain"], self._state["loss"], self.outputs["value"]
        for arr in (gain, loss, out):
            arr[frm:min(n, p)] = np.nan
        if n <= p:
            return
        start = max(frm, p)  # the first output to recompute
        run = start
        if start == p:  # seed: the plain average of the first p changes
            d = np.diff(close[:p + 1])
            gain[p], loss[p] = np.maximum(d, 0.0).mean(), np.maximum(-d, 0.0).mean()
            run = p + 1
        if run < n:
            d = close[run:n] - close[run - 1:n - 1]
            alpha = 1.0 / p
            gain[run:n] = ema_run(np.maximum(d, 0.0), alpha, gain[run - 1])
            loss[run:n] = ema_run(np.maximum(-d, 0.0), alpha, loss[run - 1])
        g, l = gain[start:n], loss[start:n]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start:n] = np.where(l > 0, 100.0 - 100.0 / (1.0 + g / np.where(l > 0, l, 1.0)),
                                    np.where(g > 0, 100.0, 50.0))
