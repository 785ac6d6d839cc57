"""Indicators (no Qt): each kind against a plain loop, incremental updates equal a full recompute, specs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.chart.indicators import IndicatorColumns, IndicatorSpec, ema_run, parse_specs


def reference(spec: IndicatorSpec, close: list[float]) -> dict[str, list[float]]:
    """Textbook definitions, one value at a time."""
    n, p = len(close), spec.period
    nan = math.nan
    if spec.kind == "sma":
        return {"value": [sum(close[i - p + 1:i + 1]) / p if i >= p - 1 else nan for i in range(n)]}
    if spec.kind == "bb":
        up, mid, lo = [], [], []
        for i in range(n):
            if i < p - 1:
                up.append(nan), mid.append(nan), lo.append(nan)
                continue
            w = close[i - p + 1:i + 1]
            m = sum(w) / p
            sd = math.sqrt(sum((v - m) ** 2 for v in w) / p)
            up.append(m + spec.width * sd), mid.append(m), lo.append(m - spec.width * sd)
        return {"upper": up, "middle": mid, "lower": lo}
    if spec.kind == "ema":
        alpha, y, out = 2 / (p + 1), close[0], []
        for i, c in enumerate(close):
            y = c if i == 0 else alpha * c + (1 - alpha) * y
            out.append(y if i >= p - 1 else nan)
        return {"value": out}
    out, gain, loss = [nan] * n, 0.0, 0.0
    for i in range(1, n):
        d = close[i] - close[i - 1]
        g, l = max(d, 0.0), max(-d, 0.0)
        if i <= p:
            gain, loss = gain + g / p, loss + l / p
        else:
            gain, loss = (gain * (p - 1) + g) / p, (loss * (p - 1) + l) / p
        if i >= p:
            out[i] = 50.0 if gain == loss == 0 else (100.0 if loss == 0 else 100 - 100 / (1 + gain / loss))
    return {"value": out}


def closes(n: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100 + np.cumsum(rng.normal(0, 0.5, n))


SPECS = [IndicatorSpec.parse(s) for s in ("sma:5", "ema:9", "ema:200", "bb:20:2", "bb:10:1.5", "rsi:14", "rsi:2")]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_full_computation_matches_the_definition(spec):
    close = closes(600)
    cols = IndicatorColumns(spec, capacity=16)  # grows as needed
    cols.update(close, len(close), 0)
    for name, expected in reference(spec, close.tolist()).items():
        np.testing.assert_allclose(cols.values(name), expected, rtol=1e-9, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.key)
def test_incremental_updates_equal_a_full_recompute(spec):
    rng = np.random.default_rng(7)
    close = list(closes(300))
    data = np.array(close)
    cols = IndicatorColumns(spec)
    cols.update(data, len(data), 0)
    for step in range(400):
        what = rng.integers(0, 10)
        if what < 6:  # a live tick changes the last close
            close[-1] += rng.normal(0, 0.2)
            frm = len(close) - 1
        elif what < 9:  # a new candle
            close.append(close[-1] + rng.normal(0, 0.3))
            frm = len(close) - 1
        else:  # a late correction of an older candle
            frm = int(rng.integers(0, len(close)))
            close[frm] += rng.normal(0, 0.5)
        data = np.array(close)
        cols.update(data, len(data), frm)
    full = IndicatorColumns(spec)
    full.update(data, len(data), 0)
    for name in spec.outputs:
        np.testing.assert_allclose(cols.values(name), full.values(name), rtol=1e-9, atol=1e-9, equal_nan=True)


def test_series_shorter_than_the_warm_up_are_all_nan():
    for spec in SPECS:
        cols = IndicatorColumns(spec)
        data = closes(spec.period - 1)
        cols.update(data, len(data), 0)
        assert all(np.isnan(cols.values(name)).all() for name in spec.outputs)
        assert cols.extent(0, len(data)) is None


def test_ema_run_is_stable_over_long_series_and_short_periods():
    x = closes(200_000)
    for alpha in (2 / 3, 2 / 21, 1 / 200):
        y = ema_run(x, alpha, x[0])
        ref, expected = x[0], []
        for v in x[:3000]:
            ref = alpha * v + (1 - alpha) * ref
            expected.append(ref)
        np.testing.assert_allclose(y[:3000], expected, rtol=1e-12)
        # Across block boundaries deep into the series: continue the recurrence from a computed value.
        k = 150_000
        ref, expected = y[k - 1], []
        for v in x[k:k + 3000]:
            ref = alpha * v + (1 - alpha) * ref
            expected.append(ref)
        np.testing.assert_allclose(y[k:k + 3000], expected, rtol=1e-12)
        assert np.isfinite(y).all() and y.min() >= x.min() - 1e-9 and y.max() <= x.max() + 1e-9


def test_specs_parse_and_refuse_with_reasons():
    assert [s.key for s in parse_specs(["EMA:20", "bb:20:2", "ema:20", "rsi:14"])] == ["ema:20", "bb:20:2", "rsi:14"]
    assert IndicatorSpec.parse("bb:20:2").label == "Bollinger 20, 2σ"
    for bad, reason in (("macd:12", "kind one of"), ("ema:1", "period must be"), ("ema:20:2", "only bb"),
                        ("bb:20:9", "band width"), (20, "kind one of")):
        with pytest.raises(ValueError, match=reason):
            IndicatorSpec.parse(bad)


def test_block_extents_match_a_full_scan_through_growth_corrections_and_nan():
    from app.chart.extent import BLOCK, BlockExtent

    rng = np.random.default_rng(3)
    values = np.full(10 * BLOCK, np.nan)
    n, ext = 0, BlockExtent()
    for step in range(300):
        if n < len(values) and rng.random() < 0.7:
            k = min(int(rng.integers(1, BLOCK // 2)), len(values) - n)
            values[n:n + k] = rng.normal(0, 1, k)
            if rng.random() < 0.2:
                values[n:n + k // 3] = np.nan  # a warm-up stretch
            ext.update(values, min(len(values), n + k), n)
            n = min(len(values), n + k)
        elif n:
            i = int(rng.integers(0, n))
            values[i] = rng.normal(0, 3)
            ext.update(values, n, i)
        i0 = int(rng.integers(0, max(1, n)))
        i1 = int(rng.integers(i0, n + 1)) if n else 0
        if i1 > i0 and not np.isnan(values[i0:i1]).all():
            assert ext.extent(values, i0, i1) == (np.nanmin(values[i0:i1]), np.nanmax(values[i0:i1]))
