"""Stack credentials: generated once per install, kept in the keyring, never shown."""

from __future__ import annotations

import keyring
import pytest

from backend.secrets import SERVICE, NoKeyringError
from stack import credentials


def test_credentials_are_generated_once_and_then_reused(memory_keyring):
    assert credentials.load() is None
    first = credentials.ensure()
    assert credentials.ensure() == first == credentials.load()
    values = [first.get(name) for name in credentials.NAMES]
    assert len(set(values)) == len(values) and all(len(v) >= 10 for v in values)
    assert 3 <= len(first.s3_access_key) <= 20  # MinIO's limits for an access key
    stored = {user: pw for (service, user), pw in memory_keyring.passwords.items() if service == SERVICE}
    assert stored == {f"stack/{name}": first.get(name) for name in credentials.NAMES}
    for value in values:
        assert value not in repr(first)


def test_a_missing_entry_is_regenerated_alone(memory_keyring):
    first = credentials.ensure()
    keyring.delete_password(SERVICE, "stack/grafana_password")
    second = credentials.ensure()
    assert second.grafana_password != first.grafana_password
    assert second.influx_token == first.influx_token


def test_forget_removes_them(memory_keyring):
    credentials.ensure()
    credentials.forget()
    assert credentials.load() is None
    assert not any(user.startswith("stack/") for _, user in memory_keyring.passwords)


def test_unknown_names_are_refused(memory_keyring):
    with pytest.raises(KeyError, match="unknown stack credential"):
        credentials.ensure().get("root_password")


def test_without_a_keyring_the_message_says_so(monkeypatch):
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(NoKeyringError, match="stack's generated credentials"):
            credentials.ensure()
        assert credentials.load() is None
    finally:
        keyring.set_keyring(previous)
