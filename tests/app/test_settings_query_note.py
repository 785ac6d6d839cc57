"""The settings dialog shows the news query a watch line will use (read from cache, no network call)."""

from __future__ import annotations

from app.settings_dialog import SettingsDialog
from backend.settings import Settings, tickerwire_home
from backend.sources.reference import shared_cache


def test_the_dialog_shows_the_derived_query_and_where_it_comes_from(qtbot, tmp_path):
    shared_cache(tickerwire_home()).put("ACME", "Acme Rockets Holdings, Inc. Class A Common Stock", 1.0)
    dialog = SettingsDialog(Settings(tmp_path / "settings.json"))
    qtbot.addWidget(dialog)
    for symbol in ("F", "ACME", "ZZZZ"):
        dialog.new_symbol.setText(symbol)
        assert dialog.add_symbol()
    rows = {dialog._cell(r, 0): r for r in range(dialog.table.rowCount())}
    dialog.table.setCurrentCell(rows["F"], 1)
    assert dialog.query_note.text().startswith("News query for F: Ford — from the built-in table")
    dialog.table.setCurrentCell(rows["ACME"], 1)
    assert dialog.query_note.text().startswith('News query for ACME: "Acme Rockets" — from the ticker\'s reference data')
    dialog.table.setCurrentCell(rows["ZZZZ"], 1)
    assert "the ticker itself" in dialog.query_note.text()
    dialog.table.item(rows["F"], 1).setText("Ford AND Mustang")
    dialog.table.setCurrentCell(rows["F"], 1)
    assert "typed in the watchlist (an override)" in dialog.query_note.text()
