"""finplot, the best-known pyqtgraph finance plotter, as a reference for issue 7's chart comparison.

Runs in finplot's own venv (PyQt6; see ``bench/requirements-finplot.txt`` — ``python -m
bench`` creates it). The chart is what a finplot user writes: ``create_plot(rows=2)``,
``candlestick_ochl`` and ``plot`` (session VWAP) on the price axis, ``volume_ocv`` on the
volume axis, ``show(qt_exec=False)``. A live tick is what finplot's own live examples do:
change the last row of the DataFrame (or ``pd.concat`` a new row for a new minute) and
call ``update_data`` on each plot item with the DataFrame's columns (finplot's ``live()``
helper is a thin wrapper over the same call). Zoom and pan go through
``FinViewBox.update_y_zoom``, which finplot's own mouse and keyboard handlers call.

Run: ``xvfb-run -a -s "-screen 0 1920x1080x24" <finplot venv>/bin/python -m bench.chart_finplot --sizes 100000``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import chart_harness as harness

CANDLE_COLS = ["time", "open", "close", "high", "low"]
VOLUME_COLS = ["time", "open", "close", "volume"]
VWAP_COLS = ["time", "svwap"]


class FinplotChart(harness.ChartAdapter):
    name = "finplot"

    def __init__(self) -> None:
        import finplot as fplt
        import pyqtgraph as pg

        self.fplt = fplt
        self.binding = pg.Qt.QT_LIB

        class ProbedFinWindow(fplt.FinWindow):
            """finplot's window, telling listeners when a frame has been painted."""

            frame_listeners: list = []

            def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
                super().paintEvent(event)
                for listener in self.frame_listeners:
                    listener()

        fplt.FinWindow = ProbedFinWindow  # create_plot instantiates the module's FinWindow
        fplt.axis_height_factor = {0: 4}  # price pane 4:1 over volume, as in TickerWire

    def setup(self, rows: list[tuple]) -> None:
        fplt = self.fplt
        df = pd.DataFrame(rows, columns=["time", "open", "high", "low", "close", "volume", "vwap"])
        df["svwap"] = harness.session_vwap(df["time"].to_numpy(), df["vwap"].to_numpy(), df["volume"].to_numpy())
        self.df = df
        self.ax, self.axv = fplt.create_plot("bench", rows=2, init_zoom_periods=harness.LIVE_WINDOW, maximize=False)
        self.win = self.ax.vb.win
        self.win.resize(harness.WIDTH, harness.HEIGHT)
        self.win.show()

    @property
    def viewport(self):
        return self.win.viewport()

    @property
    def frame_listeners(self) -> list:
        return self.win.frame_listeners

    @property
    def n(self) -> int:
        return len(self.df)

    def load(self) -> None:
        fplt, df = self.fplt, self.df
        self.candles = fplt.candlestick_ochl(df[CANDLE_COLS], ax=self.ax)
        self.vwap = fplt.plot(df[VWAP_COLS], ax=self.ax, color="#ffb74d", width=1.5)
        self.volumes = fplt.volume_ocv(df[VOLUME_COLS], ax=self.axv)
        fplt.show(qt_exec=False)

    def _update_items(self) -> None:
        df = self.df
        self.candles.update_data(df[CANDLE_COLS])
        self.vwap.update_data(df[VWAP_COLS])
        self.volumes.update_data(df[VOLUME_COLS])

    def tick(self, k: int) -> None:
        df = self.df
        i = len(df) - 1
        row = df.iloc[i]
        o, h, l, c, v = harness.live_tick_values(row["open"], row["high"], row["low"], row["close"], row["volume"], k)
        df.loc[i, ["high", "close", "volume"]] = [h, c, v]
        df.loc[i, "svwap"] = self._live_svwap(i)
        self._update_items()

    def append(self) -> None:
        df = self.df
        start, o, h, l, c, v, w = harness.append_values(int(df["time"].iloc[-1]), float(df["close"].iloc[-1]))
        new = pd.DataFrame([[start, o, h, l, c, v, w, np.nan]], columns=df.columns)
        self.df = df = pd.concat([df, new], ignore_index=True)
        df.loc[len(df) - 1, "svwap"] = self._live_svwap(len(df) - 1)
        self._update_items()

    def _live_svwap(self, i: int) -> float:
        """Session VWAP of the last candle (recomputed over its session only)."""
        day = (self.df["time"].to_numpy()[-400:] - harness.T0) // 86_400_000
        k = int(np.argmax(day == day[-1]))  # first candle of the session within the tail
        tail = self.df.iloc[len(self.df) - len(day) + k:]
        return float((tail["vwap"] * tail["volume"]).sum() / tail["volume"].sum())

    def set_x_range(self, x0: float, x1: float) -> None:
        self.ax.vb.update_y_zoom(x0, x1)

    def close(self) -> None:
        self.win.close()
        self.win.deleteLater()


if __name__ == "__main__":
    harness.main(FinplotChart, "chart_finplot")
