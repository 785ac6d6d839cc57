"""News impact in the GUI: the sortable "News impact" table and the impact summary for the details panel.

Rows are :class:`~backend.signals.impact.NewsImpact` s replaced by key as windows fill in;
a missing figure shows as "…" (pending) or "—" (cannot be measured) with the reason in
the tooltip — never a made-up number.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from html import escape

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView

from app.text import rich_tooltip
from backend.model import Article, NewsImpact, WindowImpact
from backend.signals.impact import WINDOW_MINUTES

UP, DOWN, FLAT = QColor(38, 166, 154), QColor(239, 83, 80), QColor(150, 150, 150)
SORT_ROLE = Qt.ItemDataRole.UserRole + 2
COLUMNS = ("Published", "Symbol", "Headline", *[f"+{m}m" for m in WINDOW_MINUTES], "Range 15m", "Vol z 15m")


def impact_colour(impact: NewsImpact | None) -> QColor:
    """Marker colour: green up, red down, grey while unknown."""
    headline = impact.headline if impact else None
    if headline is None or headline.return_pct is None:
        return FLAT
    return UP if headline.return_pct >= 0 else DOWN


def impact_size(impact: NewsImpact | None, base: float = 12.0) -> float:
    """Marker size grows with the size of the move (capped)."""
    headline = impact.headline if impact else None
    if headline is None or headline.return_pct is None:
        return base
    return base + min(12.0, abs(headline.return_pct) * 6.0)


def _cell(window: WindowImpact, field: str) -> tuple[str, float | None, str]:
    value = getattr(window, field)
    if value is None:
        return ("…" if not window.final else "—"), None, "; ".join(window.notes)
    if field == "volume_z":
        return f"{value:+.1f}", value, ""
    return f"{value:+.2f}%" if field == "return_pct" else f"{value:.2f}%", value, ""


class ImpactModel(QAbstractTableModel):
    """One row per (article, symbol) impact."""

    def __init__(self, tz: tzinfo) -> None:
        super().__init__()
        self.tz = tz
        self._rows: list[NewsImpact] = []
        self._index: dict[tuple[str, str], int] = {}
        self._titles: dict[str, str] = {}

    def set_titles(self, articles: list[Article]) -> None:
        for a in articles:
            self._titles[a.id] = a.title
        if self._rows:
            self.dataChanged.emit(self.index(0, 2), self.index(len(self._rows) - 1, 2))

    def apply(self, impacts: list[NewsImpact]) -> None:
        """Insert or replace impacts by key."""
        new = [i for i in impacts if i.key not in self._index]
        for impact in impacts:
            row = self._index.get(impact.key)
            if row is not None:
                self._rows[row] = impact
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        if new:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            for impact in new:
                self._index[impact.key] = len(self._rows)
                self._rows.append(impact)
            self.endInsertRows()

    def has_title(self, article_id: str) -> bool:
        return article_id in self._titles

    def impacts_for(self, symbol: str) -> dict[str, NewsImpact]:
        return {i.article_id: i for i in self._rows if i.symbol == symbol}

    def impact_at(self, row: int) -> NewsImpact:
        return self._rows[row]

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        impact = self._rows[index.row()]
        col = index.column()
        if col == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return datetime.fromtimestamp(impact.published_ms / 1000, tz=self.tz).strftime("%b %d %H:%M")
            if role == SORT_ROLE:
                return impact.published_ms
            if role == Qt.ItemDataRole.ToolTipRole and impact.notes:
                return rich_tooltip("\n".join(impact.notes))
            return None
        if col == 1:
            return impact.symbol if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE) else None
        if col == 2:
            title = self._titles.get(impact.article_id)
            if role == Qt.ItemDataRole.ForegroundRole and title is None:
                return FLAT
            if title is None:
                title = "(loading the headline…)"
            if role == Qt.ItemDataRole.ToolTipRole:
                return rich_tooltip(title)
            return title if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE) else None
        if col < 3 + len(WINDOW_MINUTES):
            window, field = impact.windows[col - 3], "return_pct"
        else:
            window, field = impact.window(15), "range_pct" if col == 3 + len(WINDOW_MINUTES) else "volume_z"
        text, value, why = _cell(window, field)
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == SORT_ROLE:
            return value if value is not None else float("-inf")
        if role == Qt.ItemDataRole.ToolTipRole:
            return rich_tooltip(why) if why else None
        if role == Qt.ItemDataRole.ForegroundRole and field == "return_pct" and value is not None:
            return UP if value >= 0 else DOWN
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class WatchedImpacts(QSortFilterProxyModel):
    """Sorts by :data:`SORT_ROLE` and shows only the rows of watched symbols."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._symbols: set[str] | None = None  # None: every symbol

    def set_symbols(self, symbols) -> None:
        self._symbols = set(symbols)
        self.beginFilterChange()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent) -> bool:  # noqa: N802 (Qt API)
        return self._symbols is None or self.sourceModel().impact_at(row).symbol in self._symbols


class ImpactTable(QTableView):
    """Sortable impact table of the watched symbols; a click emits ``impact_selected``."""

    impact_selected = Signal(object)  # NewsImpact

    def __init__(self, tz: tzinfo, parent=None) -> None:
        super().__init__(parent)
        self.model_ = ImpactModel(tz)
        self.proxy = WatchedImpacts(self)
        self.proxy.setSourceModel(self.model_)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().hide()
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column in range(len(COLUMNS)):
            header.resizeSection(column, {0: 100, 1: 60}.get(column, 72))
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.clicked.connect(lambda index: self.impact_selected.emit(
            self.model_.impact_at(self.proxy.mapToSource(index).row())))


def impact_html(impacts: list[NewsImpact]) -> str:
    """A small HTML table of an article's impact per symbol and window.

    A figure that cannot be measured shows "—" (or "…" while pending) with a numbered note under
    the table saying why: a QLabel never shows an HTML ``title``, so the reason must be text.
    """
    if not impacts:
        return "<i>No price impact measured yet.</i>"
    parts = []
    for impact in impacts:
        base = f"from {impact.base_price:.2f}" if impact.base_price is not None else "no price before publication"
        reasons: dict[str, int] = {}
        rows = []
        for w in impact.windows:
            cells = []
            for text, _, why in (_cell(w, f) for f in ("return_pct", "range_pct", "volume_z")):
                mark = ""
                if why:
                    number = reasons.setdefault(why, len(reasons) + 1)
                    mark = f"<sup>{number}</sup>"
                cells.append(f"<td align='right'>{escape(text)}{mark}</td>")
            rows.append(f"<tr><td>+{w.minutes}m</td>{''.join(cells)}</tr>")
        notes = "".join(f"<br><small>{escape(n)}</small>" for n in impact.notes)
        footnotes = "".join(f"<br><small><sup>{k}</sup> {escape(why)}</small>" for why, k in reasons.items())
        parts.append(f"<b>{escape(impact.symbol)}</b> <small>({escape(base)}"
                     f"{', market closed at publication' if impact.out_of_hours else ''})</small>"
                     "<table cellspacing='6'><tr><th></th><th>return</th><th>range</th><th>vol z</th></tr>"
                     + "".join(rows) + f"</table>{footnotes}{notes}")
    return "".join(parts)
