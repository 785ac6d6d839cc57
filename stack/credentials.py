"""Credentials of the Docker stack, generated once per install and kept in the OS keyring.

InfluxDB's admin password and API token, MinIO's (S3) access key and secret, and Grafana's admin
password are random values made on the first start and stored under the keyring service of
:mod:`backend.secrets` (entries ``stack/<name>``). They never go to a file, a log line or an
image: :mod:`stack.docker_backend` passes them to containers as environment variables at create
time, and :mod:`stack.plan` only holds :class:`~stack.plan.Secret` references to them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields

import keyring
import keyring.errors

from backend.secrets import SERVICE, NoKeyringError, keyring_available, keyring_problem

_PREFIX = "stack/"


@dataclass(frozen=True)
class StackCredentials:
    """The stack's secrets; ``repr`` shows none of them."""

    influx_password: str = field(repr=False)
    influx_token: str = field(repr=False)
    s3_access_key: str = field(repr=False)
    s3_secret_key: str = field(repr=False)
    grafana_password: str = field(repr=False)

    def get(self, key: str) -> str:
        """The value of credential ``key`` (a :class:`~stack.plan.Secret` key).

        Raises:
            KeyError: no credential of that name.
        """
        if key not in NAMES:
            raise KeyError(f"unknown stack credential {key!r}")
        return getattr(self, key)


NAMES = tuple(f.name for f in fields(StackCredentials))


def _generate(name: str) -> str:
    if name == "s3_access_key":  # MinIO: 3-20 characters for the access key
        return "tw" + secrets.token_hex(8)
    return secrets.token_urlsafe(32)


def _require_keyring() -> None:
    if not keyring_available():
        raise NoKeyringError(keyring_problem().replace("API keys", "the stack's generated credentials"))


def ensure() -> StackCredentials:
    """Load the credentials, generating and storing any that are missing.

    Raises:
        NoKeyringError: no usable OS keyring, or it refused to store a value.
    """
    _require_keyring()
    values = {}
    try:
        for name in NAMES:
            value = keyring.get_password(SERVICE, _PREFIX + name)
            if not value:
                value = _generate(name)
                keyring.set_password(SERVICE, _PREFIX + name, value)
            values[name] = value
    except keyring.errors.KeyringError as exc:
        raise NoKeyringError(f"the OS keyring refused the stack's credentials: {exc}") from exc
    return StackCredentials(**values)


def load() -> StackCredentials | None:
    """The stored credentials, or None when the stack never started here (or no keyring exists)."""
    if not keyring_available():
        return None
    try:
        values = {name: keyring.get_password(SERVICE, _PREFIX + name) for name in NAMES}
    except keyring.errors.KeyringError:
        return None
    if not all(values.values()):
        return None
    return StackCredentials(**values)


def forget() -> None:
    """Delete the stored credentials (after the stack's data volumes were deleted: a new install's secrets).

    Raises:
        NoKeyringError: no usable OS keyring.
    """
    _require_keyring()
    for name in NAMES:
        try:
            keyring.delete_password(SERVICE, _PREFIX + name)
        except keyring.errors.PasswordDeleteError:
            pass
