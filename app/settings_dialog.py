"""Settings dialog: watchlist editor, API keys (OS keyring), feed and time zone, and which stack the stack pipeline uses
(this machine's, or a remote profile edited in :class:`app.remote_stack_panel.RemoteStacksDialog`).

Nothing is applied until everything validates; a bad entry gets a message naming the
line and the problem, and the settings stay as they were. Enter in the ticker box adds the
symbol (several in a row) and never closes the dialog; the message goes away as soon as
what it names is fixed, and its line has a fixed height so nothing moves when it appears.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGroupBox, QHBoxLayout,
    QHeaderView, QLabel, QLineEdit, QPushButton, QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout,
)

from app.remote_stack_panel import RemoteStacksDialog, StackChoice
from backend import secrets
from backend.model import WatchItem
from backend.settings import Settings, SettingsError, validate_watchlist
from backend.watchlist import default_watch_item, query_note

MAX_KEY_LEN = 200


class SettingsDialog(QDialog):
    """Edits a :class:`Settings`; ``accept()`` only when every field is valid."""

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("TickerWire settings")
        self.resize(720, 560)
        self.settings = settings

        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Symbol", "News query", "Guardian sections"])
        self.table.horizontalHeaderItem(1).setToolTip("What the Guardian is searched for (e.g. Apple)")
        self.table.horizontalHeaderItem(2).setToolTip("Guardian section ids, comma-separated "
                                                      "(e.g. business, technology, money)")
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for item in settings.watchlist:
            self._append_row(item)
        self.table.itemChanged.connect(self._on_table_edited)
        self.new_symbol = QLineEdit()
        self.new_symbol.setPlaceholderText("Ticker, e.g. NFLX or BRK.B — Enter adds it")
        self.new_symbol.setMaxLength(64)
        self._enter = _EnterAdds(self)
        self.new_symbol.installEventFilter(self._enter)
        self.new_symbol.textEdited.connect(self._revalidate)
        add, remove = QPushButton("Add"), QPushButton("Remove")
        up, down = QPushButton("Move up"), QPushButton("Move down")
        for button in (add, remove, up, down):
            button.setAutoDefault(False)  # Enter anywhere in the watchlist box never presses them
        add.clicked.connect(self.add_symbol)
        remove.clicked.connect(self.remove_selected)
        up.clicked.connect(lambda: self._move(-1))
        down.clicked.connect(lambda: self._move(1))
        row = QHBoxLayout()
        for w in (self.new_symbol, add, remove, up, down):
            row.addWidget(w)
        watch_box = QGroupBox("Watchlist")
        wl = QVBoxLayout(watch_box)
        wl.addWidget(self.table)
        self.query_note = QLabel("")  # the query the selected line will use (from cached reference data)
        self.query_note.setTextFormat(Qt.TextFormat.PlainText)
        self.query_note.setWordWrap(True)
        _fixed_lines(self.query_note, 2)  # selecting a line never moves the controls below
        self.table.currentCellChanged.connect(lambda *_: self._show_query_note())
        self.table.itemChanged.connect(lambda *_: self._show_query_note())
        wl.addWidget(self.query_note)
        wl.addLayout(row)

        keys_box = QGroupBox("API keys (kept in the OS keyring, never in a file)")
        kf = QFormLayout(keys_box)
        self.polygon_key = self._key_edit(secrets.POLYGON)
        self.guardian_key = self._key_edit(secrets.GUARDIAN)
        for edit in (self.polygon_key, self.guardian_key):
            edit.textEdited.connect(self._revalidate)
        kf.addRow("Polygon / Massive", self.polygon_key)
        kf.addRow("Guardian", self.guardian_key)
        self.keyring_note = QLabel(secrets.keyring_problem())
        self.keyring_note.setWordWrap(True)
        self.keyring_note.setStyleSheet("color: #ffb74d;")
        kf.addRow(self.keyring_note)

        feed_box = QGroupBox("Feed and display")
        ff = QFormLayout(feed_box)
        self.feed = QComboBox()
        self.feed.addItem("Delayed (15 min)", "delayed")
        self.feed.addItem("Real-time", "realtime")
        self.feed.setCurrentIndex(self.feed.findData(settings.get("feed")))
        self.timezone = QComboBox()
        self.timezone.addItem("Exchange time (New York)", "exchange")
        self.timezone.addItem("Local time", "local")
        self.timezone.setCurrentIndex(self.timezone.findData(settings.get("timezone")))
        ff.addRow("Feed", self.feed)
        ff.addRow("Time zone", self.timezone)
        self.stack_choice = StackChoice(settings)
        self.remote_button = QPushButton("Remote stacks…")
        self.remote_button.setAutoDefault(False)
        self.remote_button.clicked.connect(self.edit_remote_stacks)
        stack_row = QHBoxLayout()
        stack_row.addWidget(self.stack_choice, 1)
        stack_row.addWidget(self.remote_button)
        ff.addRow("Stack", stack_row)

        self.error = QLabel("")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #ef5350; font-weight: bold;")
        # Room for two lines, always: the controls above never move, and a long message cannot widen
        # the dialog (the full text is in the tooltip if it needs more).
        _fixed_lines(self.error, 2)
        self._error_from = ""  # "ticker" or "apply": what the shown message is about
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for w in (watch_box, keys_box, feed_box, self.error, buttons):
            layout.addWidget(w)

    # -- watchlist editing ------------------------------------------------------------------------

    def add_symbol(self) -> bool:
        """Add the typed ticker with its default query and sections; show why not if it is invalid."""
        problem = self._ticker_problem(self.new_symbol.text())
        if problem:
            self._show_error(problem, "ticker")
            return False
        self._append_row(default_watch_item(self.new_symbol.text()))
        self.table.scrollToBottom()  # the new line in view
        self.new_symbol.clear()
        self._show_error("", "")
        return True

    def _ticker_problem(self, text: str) -> str:
        try:
            item = default_watch_item(text)
        except ValueError as exc:
            return str(exc)
        if item.symbol in self._symbols():
            return f"{item.symbol} is already in the watchlist"
        return ""

    def _show_error(self, message: str, source: str) -> None:
        self.error.setText(message)
        self.error.setToolTip(message)
        self._error_from = source if message else ""

    def showEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self.new_symbol.setFocus()  # typing right away adds tickers; it never edits the first row

    def _on_table_edited(self, *_) -> None:
        """A cell edit is checked at once: the line it breaks is named, and the message goes once fixed."""
        if self._error_from != "ticker":
            self._error_from = "apply"
        self._revalidate()

    def _revalidate(self, *_) -> None:
        """After an edit: drop the message once its problem is fixed (or name the one that is left)."""
        if self._error_from == "ticker":
            text = self.new_symbol.text()
            if not text.strip() or not self._ticker_problem(text):
                self._show_error("", "")
        elif self._error_from == "apply":
            try:
                self._validated()
            except (SettingsError, secrets.NoKeyringError, ValueError) as exc:
                self._show_error(str(exc), "apply")
            else:
                self._show_error("", "")

    def remove_selected(self) -> None:
        for r in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(r)
        self._revalidate()

    def _move(self, delta: int) -> None:
        r = self.table.currentRow()
        target = r + delta
        if r < 0 or not 0 <= target < self.table.rowCount():
            return
        values = [self._cell(r, c) for c in range(3)]
        other = [self._cell(target, c) for c in range(3)]
        for c in range(3):
            self.table.setItem(r, c, QTableWidgetItem(other[c]))
            self.table.setItem(target, c, QTableWidgetItem(values[c]))
        self.table.setCurrentCell(target, 0)

    def _append_row(self, item: WatchItem) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        self.table.setItem(r, 0, QTableWidgetItem(item.symbol))
        self.table.setItem(r, 1, QTableWidgetItem(item.query))
        self.table.setItem(r, 2, QTableWidgetItem(", ".join(item.sections)))

    def _show_query_note(self) -> None:
        r = self.table.currentRow()
        text = query_note(self._cell(r, 0), self._cell(r, 1), tuple(
            s.strip() for s in self._cell(r, 2).split(","))) if r >= 0 else ""
        self.query_note.setText(text)
        self.query_note.setToolTip(text)

    def _cell(self, r: int, c: int) -> str:
        item = self.table.item(r, c)
        return item.text() if item else ""

    def _symbols(self) -> list[str]:
        return [self._cell(r, 0).strip().upper() for r in range(self.table.rowCount())]

    def watch_items(self) -> list[WatchItem]:
        """The table as entered (unvalidated)."""
        return [WatchItem(self._cell(r, 0), self._cell(r, 1), tuple(self._cell(r, 2).split(",")))
                for r in range(self.table.rowCount())]

    def _key_edit(self, name: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setMaxLength(MAX_KEY_LEN + 1)
        source = secrets.key_source(name)
        edit.setPlaceholderText({"environment": "set in the environment", "keyring": "saved in the keyring"}
                                .get(source, "not set (demo data is used)"))
        return edit

    # -- apply ------------------------------------------------------------------------------------

    def accept(self) -> None:
        try:
            self.apply()
        except (SettingsError, secrets.NoKeyringError, ValueError) as exc:
            self._show_error(str(exc), "apply")
            return
        super().accept()

    def apply(self) -> None:
        """Validate everything, then save; raise with a user-facing message and change nothing if invalid."""
        watchlist, keys = self._validated()
        self.settings.update({"watchlist": watchlist, "feed": self.feed.currentData(),
                              "timezone": self.timezone.currentData(), "stack_profile": self.stack_choice.value()})
        for name, value in keys.items():
            secrets.set_key(name, value)

    def edit_remote_stacks(self) -> RemoteStacksDialog:
        """Open the remote stacks' profiles (modeless); the Stack chooser follows what is saved there."""
        dialog = RemoteStacksDialog(self.settings, self)
        dialog.panel.profiles_changed.connect(lambda: self.stack_choice.refill())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _validated(self) -> tuple[list[WatchItem], dict[str, str]]:
        """The watchlist and keys as entered, checked; raise with the user-facing message."""
        watchlist = validate_watchlist(self.watch_items())
        keys = {}
        for name, edit in ((secrets.POLYGON, self.polygon_key), (secrets.GUARDIAN, self.guardian_key)):
            value = edit.text().strip()
            if value:
                if len(value) > MAX_KEY_LEN or not value.isprintable() or " " in value:
                    raise SettingsError(f"the {name} key does not look like an API key (no spaces, at most "
                                        f"{MAX_KEY_LEN} characters)")
                keys[name] = value
        if keys and not secrets.keyring_available():
            raise secrets.NoKeyringError(secrets.keyring_problem())
        return watchlist, keys


def _fixed_lines(label: QLabel, lines: int) -> None:
    """A message line of fixed height that never widens its dialog: text appearing moves nothing."""
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setFixedHeight(label.fontMetrics().lineSpacing() * lines + 4)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)


class _EnterAdds(QObject):
    """Enter in the ticker box adds the symbol and stops there (the dialog's OK button never sees it)."""

    def __init__(self, dialog: SettingsDialog) -> None:
        super().__init__(dialog)
        self._dialog = dialog

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt API)
        if event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._dialog.add_symbol()
            return True
        return False
