"""Watchlist table: symbol, last, change %, volume and a sparkline; selecting a row picks the chart."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPen, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QStyle, QStyledItemDelegate, QTableView,
)

from backend.processing.snapshots import SymbolSnapshot

COLUMNS = ("Symbol", "Last", "Chg %", "Volume", "Trend")
SPARK_ROLE = Qt.ItemDataRole.UserRole + 1
UP, DOWN = QColor(38, 166, 154), QColor(239, 83, 80)


class WatchlistModel(QAbstractTableModel):
    """Rows in watchlist order; figures from :class:`SymbolSnapshot` s."""

    def __init__(self) -> None:
        super().__init__()
        self._symbols: list[str] = []
        self._snapshots: dict[str, SymbolSnapshot] = {}
        self._spark: dict[str, list[tuple[float, float]]] = {}  # normalised 0..1 points

    def set_symbols(self, symbols: list[str]) -> None:
        self.beginResetModel()
        self._symbols = list(symbols)
        self.endResetModel()

    def symbols(self) -> list[str]:
        return list(self._symbols)

    def apply(self, snapshots: list[SymbolSnapshot]) -> None:
        """Take new figures; one ``dataChanged`` covers every touched row."""
        rows = []
        for snap in snapshots:
            self._snapshots[snap.symbol] = snap
            self._spark[snap.symbol] = _normalise(snap.spark)
            if snap.symbol in self._symbols:
                rows.append(self._symbols.index(snap.symbol))
        if rows:
            self.dataChanged.emit(self.index(min(rows), 1), self.index(max(rows), len(COLUMNS) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._symbols)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        symbol = self._symbols[index.row()]
        snap = self._snapshots.get(symbol)
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return symbol
            if snap is None or not snap.last:
                return "—" if col < 4 else None
            if col == 1:
                return f"{snap.last:,.2f}"
            if col == 2:
                return "—" if snap.change_pct is None else f"{snap.change_pct:+.2f}%"
            if col == 3:
                return _compact(snap.day_volume)
        elif role == Qt.ItemDataRole.ForegroundRole and col == 2 and snap and snap.change_pct is not None:
            return UP if snap.change_pct >= 0 else DOWN
        elif role == Qt.ItemDataRole.TextAlignmentRole and col in (1, 2, 3):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        elif role == SPARK_ROLE and col == 4:
            up = snap is not None and snap.change_pct is not None and snap.change_pct >= 0
            return self._spark.get(symbol, []), up
        return None


class SparklineDelegate(QStyledItemDelegate):
    """Paints precomputed, normalised points scaled into the cell (no data work in paint).

    On a selected row the line takes the selection's text colour: green or red on the selection's
    blue cannot be read.
    """

    def paint(self, painter: QPainter, option, index) -> None:
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # the view drew the selection
        points, up = index.data(SPARK_ROLE) or ([], True)
        if len(points) < 2:
            return
        r = option.rect.adjusted(4, 4, -4, -4)
        poly = QPolygonF([QPointF(r.left() + x * r.width(), r.bottom() - y * r.height()) for x, y in points])
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = option.palette.color(QPalette.ColorRole.HighlightedText) if selected else (UP if up else DOWN)
        painter.setPen(QPen(color, 1.6 if selected else 1.3))
        painter.drawPolyline(poly)
        painter.restore()


class WatchlistView(QTableView):
    """The table; emits ``symbol_selected`` when the user picks a row."""

    symbol_selected = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model_ = WatchlistModel()
        self.setModel(self.model_)
        self.setItemDelegateForColumn(4, SparklineDelegate(self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(26)
        # Fixed widths: ResizeToContents would re-measure every cell on every tick.
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((64, 78, 70, 76)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.selectionModel().currentRowChanged.connect(self._on_row_changed)

    def select_symbol(self, symbol: str) -> None:
        symbols = self.model_.symbols()
        if symbol in symbols:
            self.selectRow(symbols.index(symbol))

    def _on_row_changed(self, current, _previous) -> None:
        if current.isValid():
            self.symbol_selected.emit(self.model_.symbols()[current.row()])


def _normalise(values: tuple[float, ...]) -> list[tuple[float, float]]:
    if len(values) < 2:
        return []
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    last = len(values) - 1
    return [(i / last, (v - lo) / span) for i, v in enumerate(values)]


def _compact(volume: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if volume >= size:
            return f"{volume / size:.2f}{unit}"
    return f"{volume:.0f}"
