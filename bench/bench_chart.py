"""TickerWire's chart speed with N one-minute candles: first paint, live-candle update, append, zoomed-out panning, RSS.

Targets (issue 2, at 100,000 candles): live update ≤ 2 ms median and ≤ 8 ms p95 including the
repaint; panning fully zoomed out ≥ 30 frames/s. ``--indicators ema:20,bb:20:2`` measures the chart
with those indicators on instead (implementation ``tickerwire-indicators``; issue 17: the targets
hold with two on). ``python -m bench --implementations tickerwire,tickerwire-indicators,finplot``
runs both beside finplot in one run. Every update timing runs until Qt has
painted the frame that shows the change (Qt repaints only the dirty region, as in the app).
The measurement itself lives in :mod:`bench.chart_harness`, shared with the finplot and
classic-QPicture implementations of issue 7's comparison. Run under a real X server:
``xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python -m bench.bench_chart``
(without ``DISPLAY`` it falls back to the offscreen platform).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bench import chart_harness as harness


class TickerWireChart(harness.ChartAdapter):
    """The app's :class:`~app.chart.view.ChartView`, fed exactly as the main window feeds it."""

    name = "tickerwire"
    binding = "PySide6"

    def __init__(self, indicators: tuple[str, ...] = ()) -> None:
        self.indicators = tuple(indicators)
        if self.indicators:
            self.name = "tickerwire-indicators"
            self.extra = {"indicators": list(self.indicators)}
        # Imported before the harness's first RSS reading, as the references import their libraries.
        from app.chart.view import ChartView
        from backend.model import Candle, Timeframe
        from backend.pipeline import CandleSeries

        self._view_class, self._candle, self._series_class, self._m1 = ChartView, Candle, CandleSeries, Timeframe.M1

    def setup(self, rows: list[tuple]) -> None:
        self.series = self._series_class.from_rows("BENCH", self._m1, rows)
        self.view = self._view_class(ZoneInfo("America/New_York"))
        self.view.resize(harness.WIDTH, harness.HEIGHT)
        if self.indicators:
            from app.chart.indicators import IndicatorSpec

            self.view.set_indicators([IndicatorSpec.parse(key) for key in self.indicators])
        self.view.show()

    @property
    def viewport(self):
        return self.view.graphics.viewport()

    @property
    def frame_listeners(self) -> list:
        return self.view.graphics.frame_listeners

    @property
    def n(self) -> int:
        return self.view.data.n

    def load(self) -> None:
        series, self.series = self.series, None  # the main window does not keep it either
        self.view.set_series(series, [])

    def tick(self, k: int) -> None:
        d = self.view.data
        i = d.n - 1
        o, h, l, c, v = harness.live_tick_values(d.open[i], d.high[i], d.low[i], d.close[i], d.volume[i], k)
        self.view.apply_candles([self._candle("BENCH", self._m1, int(d.start[i]), o, h, l, c, v, d.vwap[i], 1)])

    def append(self) -> None:
        d = self.view.data
        i = d.n - 1
        start, o, h, l, c, v, w = harness.append_values(int(d.start[i]), float(d.close[i]))
        self.view.apply_candles([self._candle("BENCH", self._m1, start, o, h, l, c, v, w, 1)])

    def set_x_range(self, x0: float, x1: float) -> None:
        self.view.price.setXRange(x0, x1, padding=0)  # the view fits y on sigXRangeChanged

    def close(self) -> None:
        self.view.close()
        self.view.deleteLater()


def main(argv: list[str] | None = None) -> list[dict]:
    import argparse
    import sys

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--indicators", default="", help="measure with these on, e.g. ema:20,bb:20:2")
    known, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if known.indicators:
        keys = tuple(k for k in known.indicators.split(",") if k)
        return harness.main(lambda: TickerWireChart(keys), "chart_tickerwire_indicators", rest)
    return harness.main(TickerWireChart, "chart_tickerwire", rest)


if __name__ == "__main__":
    main()
