"""API keys in the OS keyring — never in a plain file or a log line.

Environment variables win (``MASSIVE_API_KEY`` or ``POLYGON_API_KEY``, ``GUARDIAN_API_KEY``)
so a server or CI can run without a keyring. Where no keyring backend exists, saving
raises :class:`NoKeyringError` with a message that says so.
"""

from __future__ import annotations

import os

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
