"""Settings schema validation, persistence, change notification; keys go to the keyring only."""

from __future__ import annotations

import json

import pytest

from backend import secrets
from backend.model import WatchItem
from backend.settings import Option, Settings, SettingsError, validate_watchlist
from backend.watchlist import default_watch_item


def test_defaults_find_the_company_not_the_rainforest():
    """The company's name, every section: the relevance matcher keeps the rainforest out (issue 15)."""
    from backend.model import Article
    from backend.signals.relevance import route_article

    amzn = default_watch_item("amzn")
    assert amzn.symbol == "AMZN" and amzn.query == "Amazon" and amzn.sections == ()
    forest = Article("environment/x", 0, "Amazon deforestation falls to lowest level in a decade", "u", "environment")
    walkout = Article("uk-news/x", 0, "Amazon warehouse workers stage walkout over pay", "u", "uk-news")
    assert not route_article(forest, amzn) and route_article(walkout, amzn)


@pytest.mark.parametrize("symbols, message", [
    (["AAPL", "aapl"], "already in the watchlist"),
    (["AAPL", ""], "empty"),
    (["BRK..B"], "not valid"),
    (["A" * 50], "longer than"),
    (["AA;PL"], "not valid"),
    ([], "empty"),
])
def test_bad_watchlists_are_refused_with_a_message(symbols, message):
    with pytest.raises(SettingsError, match=message):
        validate_watchlist([WatchItem(s, "", ()) for s in symbols])


def test_valid_watchlist_is_normalised():
    items = validate_watchlist([{"symbol": " brk.b ", "query": "  Berkshire   Hathaway ", "sections": ["Business", ""]}])
    assert items == [WatchItem("BRK.B", "Berkshire Hathaway", ("business",))]


def test_settings_persist_and_notify(tmp_path):
    path = tmp_path / "settings.json"
    settings = Settings(path)
    heard = []
    settings.on_change(lambda name, value: heard.append((name, value)))
    settings.set("timezone", "local")
    settings.set("watchlist", [default_watch_item("NFLX")])
    assert heard[0] == ("timezone", "local") and heard[1][0] == "watchlist"
    again = Settings(path)
    assert again.get("timezone") == "local" and [w.symbol for w in again.watchlist] == ["NFLX"]
    assert "key" not in path.read_text().lower()


def test_invalid_update_changes_nothing(tmp_path):
    settings = Settings(tmp_path / "settings.json")
    before = settings.watchlist
    with pytest.raises(SettingsError):
        settings.update({"timezone": "local", "demo_speed": -3})
    assert settings.get("timezone") == "exchange" and settings.watchlist == before
    with pytest.raises(SettingsError, match="unknown setting"):
        settings.set("colour", "blue")


def test_corrupt_or_unknown_settings_fall_back_to_defaults_with_a_note(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"timezone": "mars", "bogus": 1}))
    settings = Settings(path)
    assert settings.get("timezone") == "exchange"
    assert any("bogus" in p for p in settings.load_problems) and any("timezone" in p for p in settings.load_problems)
    path.write_text("{not json")
    assert Settings(path).load_problems


def test_keys_go_to_the_keyring_and_env_wins(memory_keyring, monkeypatch):
    secrets.set_key(secrets.GUARDIAN, "g-key")
    assert memory_keyring.passwords[("tickerwire", "guardian")] == "g-key"
    assert secrets.get_key(secrets.GUARDIAN) == "g-key" and secrets.key_source(secrets.GUARDIAN) == "keyring"
    monkeypatch.setenv("POLYGON_API_KEY", "p-env")
    assert secrets.get_key(secrets.POLYGON) == "p-env" and secrets.key_source(secrets.POLYGON) == "environment"


def test_no_keyring_is_said_clearly():
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        assert not secrets.keyring_available()
        assert "No OS keyring" in secrets.keyring_problem()
        with pytest.raises(secrets.NoKeyringError, match="MASSIVE_API_KEY"):
            secrets.set_key(secrets.POLYGON, "x")
        assert secrets.get_key(secrets.POLYGON) == ""
    finally:
        keyring.set_keyring(previous)


def test_every_option_says_how_a_change_takes_effect():
    from backend.settings import APPLIES, SCHEMA

    assert all(option.applies in APPLIES for option in SCHEMA.values())
    with pytest.raises(ValueError, match="applies must be one of"):
        Option("x", int, 0, "x", applies="later")
