"""Stack credentials: generated once per install, kept in the keyring or, without one, a private file; never shown."""

from __future__ import annotations

import json
import stat

import keyring
import pytest

from backend.secrets import SERVICE
from stack import credentials


@pytest.fixture
def no_keyring():
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


def test_credentials_are_generated_once_into_the_keyring_and_then_reused(memory_keyring, tmp_path):
    assert credentials.load(tmp_path) is None
    first = credentials.ensure(tmp_path)
    assert credentials.ensure(tmp_path) == first == credentials.load(tmp_path)
    values = [first.get(name) for name in credentials.NAMES]
    assert len(set(values)) == len(values) and all(len(v) >= 16 for v in values)
    stored = {user: pw for (service, user), pw in memory_keyring.passwords.items() if service == SERVICE}
    assert stored == {f"stack/tickerwire/{name}": first.get(name) for name in credentials.NAMES}
    assert not credentials.credentials_file(tmp_path).exists()
    assert not [v for v in values if v in repr(first)]
    assert credentials.location(tmp_path) == "the OS keyring"


def test_a_missing_entry_is_regenerated_alone(memory_keyring, tmp_path):
    first = credentials.ensure(tmp_path)
    keyring.delete_password(SERVICE, "stack/tickerwire/grafana_password")
    second = credentials.ensure(tmp_path)
    assert second.grafana_password != first.grafana_password
    assert second.influx_admin_password == first.influx_admin_password


def test_without_a_keyring_they_go_to_a_file_only_the_user_reads_and_it_says_so_once(no_keyring, tmp_path):
    notices = []
    first = credentials.ensure(tmp_path, notices.append)
    path = credentials.credentials_file(tmp_path)
    assert notices == [f"No OS keyring on this machine: the stack's generated credentials are kept in {path} "
                       "(readable only by you)."]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == first.as_dict()
    assert credentials.ensure(tmp_path, notices.append) == first and len(notices) == 1
    assert credentials.load(tmp_path) == first and credentials.location(tmp_path) == str(path)
    credentials.forget(tmp_path)
    assert credentials.load(tmp_path) is None and not path.exists()


def test_an_unreadable_credentials_file_is_reported(no_keyring, tmp_path):
    path = credentials.credentials_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(credentials.NoKeyringError, match="credentials file .* cannot be read"):
        credentials.ensure(tmp_path)


def test_each_stack_has_its_own_and_forget_removes_only_its_own(memory_keyring, tmp_path):
    mine = credentials.ensure(tmp_path)
    bench = credentials.ensure(tmp_path, stack="twbench")
    assert bench.influx_admin_password != mine.influx_admin_password
    credentials.forget(tmp_path, stack="twbench")
    assert credentials.load(tmp_path, stack="twbench") is None and credentials.load(tmp_path) == mine
    credentials.forget(tmp_path)
    assert not any(user.startswith("stack/") for _, user in memory_keyring.passwords)


def test_unknown_names_are_refused(memory_keyring, tmp_path):
    with pytest.raises(KeyError, match="unknown stack credential"):
        credentials.ensure(tmp_path).get("root_password")
