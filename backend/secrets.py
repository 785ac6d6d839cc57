"""Secrets in the OS keyring — never in a settings file, a URL or a log line.

API keys: environment variables win (``MASSIVE_API_KEY`` or ``POLYGON_API_KEY``, ``GUARDIAN_API_KEY``)
so a server or CI can run without a keyring. Where no keyring backend exists, saving
raises :class:`NoKeyringError` with a message that says so.

Other secrets the app keeps for itself (a remote stack profile's passwords and tokens, the Docker
stack's generated credentials) are a :class:`SecretGroup`: keyring entries ``<prefix>/<name>``, or —
on a machine without a keyring (a server, a container, CI) — one JSON file readable only by its owner
(0600 in a 0700 directory, :func:`write_private_json`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import keyring
import keyring.errors

SERVICE = "tickerwire"
POLYGON = "polygon"
GUARDIAN = "guardian"
_ENV = {POLYGON: ("MASSIVE_API_KEY", "POLYGON_API_KEY"), GUARDIAN: ("GUARDIAN_API_KEY",)}


class NoKeyringError(RuntimeError):
    """No usable OS keyring: keys can only come from the environment."""


def keyring_available() -> bool:
    """True when a real keyring backend (not the 'fail' placeholder) is configured."""
    backend = keyring.get_keyring()
    return getattr(backend, "priority", 0) > 0 and "fail" not in type(backend).__module__


def keyring_problem() -> str:
    """A sentence for the user when no keyring exists, else ''."""
    if keyring_available():
        return ""
    return ("No OS keyring is available on this system, so API keys cannot be saved. Set MASSIVE_API_KEY "
            "and GUARDIAN_API_KEY in the environment instead, or install a keyring (e.g. GNOME Keyring, KWallet).")


def get_key(name: str) -> str:
    """The key for ``polygon`` or ``guardian``: environment first, then the keyring; '' if none."""
    for var in _ENV[name]:
        if os.environ.get(var):
            return os.environ[var]
    if not keyring_available():
        return ""
    try:
        return keyring.get_password(SERVICE, name) or ""
    except keyring.errors.KeyringError:
        return ""


def key_source(name: str) -> str:
    """Where the key comes from: 'environment', 'keyring' or ''."""
    if any(os.environ.get(var) for var in _ENV[name]):
        return "environment"
    return "keyring" if get_key(name) else ""


def set_key(name: str, value: str) -> None:
    """Store (or with '' delete) a key in the keyring; raise NoKeyringError when there is none."""
    if name not in _ENV:
        raise ValueError(f"unknown key {name!r}")
    if not keyring_available():
        raise NoKeyringError(keyring_problem())
    try:
        if value:
            keyring.set_password(SERVICE, name, value)
        else:
            try:
                keyring.delete_password(SERVICE, name)
            except keyring.errors.PasswordDeleteError:
                pass
    except keyring.errors.KeyringError as exc:
        raise NoKeyringError(f"the OS keyring refused to store the key: {exc}") from exc


# --- secrets the app keeps for itself -------------------------------------------------------------------------------


def read_private_json(path: Path, what: str) -> dict[str, str]:
    """The string values of a private JSON file ({} when it does not exist).

    Raises:
        NoKeyringError: the file exists but cannot be read (``what`` names it in the message).
    """
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise NoKeyringError(f"{what} {path} cannot be read: {exc}") from exc
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def write_private_json(path: Path, values: dict[str, str], what: str) -> None:
    """Replace a JSON file readable only by its owner (0600, in a 0700 directory), atomically.

    Raises:
        NoKeyringError: it cannot be written (``what`` names it in the message).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        partial = path.with_suffix(".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        os.replace(partial, path)
    except OSError as exc:
        raise NoKeyringError(f"no OS keyring, and {what} {path} cannot be written: {exc}") from exc


class SecretGroup:
    """A few named secrets kept together: keyring entries ``<prefix>/<name>``, else a private JSON file.

    Args:
        prefix: The keyring entries' prefix (e.g. ``remote/desk``).
        names: The secrets' names; others are refused.
        file: The private file used where no keyring exists.
        what: How messages name the file ("the remote profile's secrets file").
    """

    def __init__(self, prefix: str, names: Iterable[str], file: Path, what: str) -> None:
        self.prefix = prefix
        self.names = tuple(names)
        self.file = file
        self.what = what

    def location(self) -> str:
        """Where the secrets are kept here, for messages."""
        return "the OS keyring" if keyring_available() else str(self.file)

    def load(self) -> dict[str, str]:
        """The stored secrets (a missing one is absent).

        Raises:
            NoKeyringError: the keyring or the file cannot be read.
        """
        if not keyring_available():
            stored = read_private_json(self.file, self.what)
            return {name: stored[name] for name in self.names if stored.get(name)}
        try:
            values = {name: keyring.get_password(SERVICE, f"{self.prefix}/{name}") for name in self.names}
        except keyring.errors.KeyringError as exc:
            raise NoKeyringError(f"the OS keyring refused to read {self.prefix}: {exc}") from exc
        return {name: value for name, value in values.items() if value}

    def save(self, values: dict[str, str]) -> None:
        """Store the given secrets ('' deletes one); the others stay as they are.

        Raises:
            KeyError: an unknown name.
            NoKeyringError: the keyring or the file refused them.
        """
        unknown = set(values) - set(self.names)
        if unknown:
            raise KeyError(f"unknown secret {sorted(unknown)[0]!r} (known: {', '.join(self.names)})")
        if not keyring_available():
            stored = read_private_json(self.file, self.what)
            stored.update(values)
            write_private_json(self.file, {k: v for k, v in stored.items() if v and k in self.names}, self.what)
            return
        try:
            for name, value in values.items():
                entry = f"{self.prefix}/{name}"
                if value:
                    keyring.set_password(SERVICE, entry, value)
                else:
                    _delete(entry)
        except keyring.errors.KeyringError as exc:
            raise NoKeyringError(f"the OS keyring refused to store {self.prefix}: {exc}") from exc

    def forget(self) -> None:
        """Delete every secret of the group (keyring entries and the file)."""
        if keyring_available():
            for name in self.names:
                _delete(f"{self.prefix}/{name}")
        self.file.unlink(missing_ok=True)


def _delete(entry: str) -> None:
    try:
        keyring.delete_password(SERVICE, entry)
    except keyring.errors.PasswordDeleteError:
        pass
