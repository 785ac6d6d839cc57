"""Credentials of the Docker stack: generated once per install, kept in the OS keyring (or a private file).

InfluxDB's admin and read-only passwords, PostgreSQL's catalog password, the S3 access key and
secret, and Grafana's admin password are random values made on the first start of a stack. They live
in the OS keyring under the service of :mod:`backend.secrets` (entries ``stack/<stack>/<name>``: each
stack name has its own, as each has its own volumes). On a machine without a keyring (a server, CI)
they go to ``$TICKERWIRE_HOME/stack/<stack>.credentials.json`` instead, readable only by the user
(0600 in a 0700 directory); the first time, :func:`ensure` says so through its ``notice`` callback. Values never reach a log line, an image, a plan or a container's
environment: :mod:`stack.apply` writes them into the containers as files.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

from backend.secrets import NoKeyringError, SecretGroup, keyring_available
from backend.settings import tickerwire_home

#: The stack name of ``tickerwire stack`` and the Stack tab.
DEFAULT_STACK = "tickerwire"


@dataclass(frozen=True)
class StackCredentials:
    """The stack's secrets; ``repr`` shows none of them."""

    influx_admin_password: str = field(repr=False)
    influx_reader_password: str = field(repr=False)
    postgres_password: str = field(repr=False)
    s3_access_key: str = field(repr=False)
    s3_secret_key: str = field(repr=False)
    grafana_password: str = field(repr=False)

    def get(self, key: str) -> str:
        """The value of credential ``key``.

        Raises:
            KeyError: no credential of that name.
        """
        if key not in NAMES:
            raise KeyError(f"unknown stack credential {key!r}")
        return getattr(self, key)

    def as_dict(self) -> dict[str, str]:
        """Name -> value (for filling secret files; never log it)."""
        return {name: getattr(self, name) for name in NAMES}


NAMES = tuple(f.name for f in fields(StackCredentials))


def _generate(name: str) -> str:
    if name == "s3_access_key":  # an S3 access key id: short, alphanumeric
        return "tw" + secrets.token_hex(8)
    return secrets.token_urlsafe(32)


def credentials_file(home: Path | None = None, stack: str = DEFAULT_STACK) -> Path:
    """Where a stack's credentials go on a machine without an OS keyring."""
    return (home or tickerwire_home()) / "stack" / f"{stack}.credentials.json"


def _group(home: Path | None, stack: str) -> SecretGroup:
    return SecretGroup(f"stack/{stack}", NAMES, credentials_file(home, stack), "the stack's credentials file")


def location(home: Path | None = None, stack: str = DEFAULT_STACK) -> str:
    """Where a stack's credentials are kept here, for messages."""
    return _group(home, stack).location()


def ensure(home: Path | None = None, notice: Callable[[str], None] | None = None,
           stack: str = DEFAULT_STACK) -> StackCredentials:
    """Load a stack's credentials, generating and storing any that are missing.

    Args:
        home: The app's data directory (default ``$TICKERWIRE_HOME``), for the file fallback.
        notice: Told once, when the credentials file is created because no keyring exists.
        stack: The stack's name.

    Raises:
        NoKeyringError: the keyring refused a value, or the file cannot be read or written.
    """
    group = _group(home, stack)
    stored = group.load()
    missing = {name: _generate(name) for name in NAMES if name not in stored}
    if missing:
        created = not keyring_available() and not group.file.exists()
        group.save(missing)
        if created and notice is not None:
            notice(f"No OS keyring on this machine: the stack's generated credentials are kept in {group.file} "
                   "(readable only by you).")
    return StackCredentials(**{**stored, **missing})


def load(home: Path | None = None, stack: str = DEFAULT_STACK) -> StackCredentials | None:
    """A stack's stored credentials, or None when it never started here (or they cannot be read)."""
    try:
        stored = _group(home, stack).load()
    except NoKeyringError:
        if keyring_available():
            return None
        raise
    return StackCredentials(**stored) if len(stored) == len(NAMES) else None


def forget(home: Path | None = None, stack: str = DEFAULT_STACK) -> None:
    """Delete a stack's credentials (after its volumes were deleted: a new install's secrets)."""
    _group(home, stack).forget()
