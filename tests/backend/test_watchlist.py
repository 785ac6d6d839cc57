"""Default news queries from company names: the press forms of legal names, defaults vs overrides."""

from __future__ import annotations

import pytest

from backend.model import WatchItem
from backend.settings import Settings, tickerwire_home
from backend.sources.reference import shared_cache
from backend.watchlist import (LEGACY_SECTIONS, default_watch_item, effective_item, is_default, press_names,
                               query_from_names, query_note)


@pytest.mark.parametrize("legal, names, query", [
    ("Ford Motor Company", ("Ford Motor", "Ford"), "Ford"),
    ("Target Corporation", ("Target",), "Target"),
    ("Alphabet Inc. Class A Common Stock", ("Alphabet", "Google"), "Alphabet OR Google"),
    ("Meta Platforms, Inc. Class A Common Stock", ("Meta Platforms", "Meta", "Facebook"), "Meta OR Facebook"),
    ("NVIDIA Corporation", ("Nvidia",), "Nvidia"),
    ("The Walt Disney Company", ("Walt Disney", "Disney"), "Disney"),
    ("JPMorgan Chase & Co.", ("JPMorgan Chase", "JPMorgan", "JP Morgan"), 'JPMorgan OR "JP Morgan"'),
    ("Amazon.com, Inc.", ("Amazon",), "Amazon"),
    ("General Motors Company", ("General Motors",), '"General Motors"'),  # "General" alone names nothing
    ("International Business Machines Corporation", ("International Business Machines", "IBM"),
     '"International Business Machines" OR IBM'),
    ("Coca-Cola Company (The)", ("Coca-Cola",), "Coca-Cola"),
])
def test_press_names_of_legal_names(legal, names, query):
    assert press_names(legal) == names and query_from_names(names) == query


def test_defaults_come_from_reference_data_else_the_table_else_the_ticker():
    assert default_watch_item("F") == WatchItem("F", "Ford", ())  # the built-in table, offline
    assert default_watch_item("TGT").query == "Target"
    assert default_watch_item("QQQQ").query == "QQQQ"
    shared_cache(tickerwire_home()).put("QQQQ", "Quux Quantum Technologies Inc.", 1.0)
    assert default_watch_item("QQQQ").query == '"Quux Quantum"'


def test_saved_defaults_are_defaults_and_typed_queries_are_overrides(tmp_path):
    old = WatchItem("F", "Ford Motor", LEGACY_SECTIONS)  # what a user saved before issue 15
    assert is_default(old) and effective_item(old) == WatchItem("F", "Ford", ())
    assert is_default(WatchItem("F", "Ford", ("money", "business", "technology")))
    typed = WatchItem("F", "Ford AND Mustang", ())
    assert not is_default(typed) and effective_item(typed) == typed
    sectioned = WatchItem("F", "Ford", ("business",))
    assert not is_default(sectioned) and effective_item(sectioned) == sectioned
    settings = Settings(tmp_path / "settings.json")
    settings.set("watchlist", [{"symbol": "tgt", "query": "", "sections": []}])
    assert settings.watchlist == [WatchItem("TGT", "Target", ())]


def test_query_note_for_the_settings_dialog():
    assert query_note("F", "Ford") == ("News query for F: Ford — from the built-in table (reference data not "
                                       "fetched yet); every section, checked by the relevance matcher")
    assert "an override); sections business" in query_note("F", "Ford", ("business",))
    assert query_note("not a ticker!", "x") == ""
