"""Which official Polygon.io/Massive client the price source runs on, and a clear message when none can load.

Polygon.io is now Massive; its official Python client continues as the ``massive`` package with
the ``polygon-api-client`` API (``WebSocketClient``, ``RESTClient``, ``exceptions.AuthError``).
TickerWire runs on either:

* ``polygon-api-client`` (installed by ``pip install -e .``), the release line the Polygon source
  is tested against, is used when it is installed;
* ``massive`` (``pip install -e '.[massive]'``) is used when ``polygon-api-client`` is absent, or
  when ``TICKERWIRE_MARKET_CLIENT=massive`` asks for it.

Hosts never depend on the package: they come from the settings (see :mod:`backend.sources.configure`).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

ENV_CLIENT = "TICKERWIRE_MARKET_CLIENT"
PACKAGES = {"polygon": "polygon-api-client", "massive": "massive"}  # import name → distribution name


class MissingDependency(ImportError):
    """A package the live sources need is not installed; the message says which and how to install it."""


@dataclass(frozen=True, slots=True)
class MarketClient:
    """The loaded client package: its websocket and REST clients and its auth error."""

    package: str  # import name: "polygon" or "massive"
    WebSocketClient: Any
    RESTClient: Any
    AuthError: type[BaseException]

    @property
    def distribution(self) -> str:
        return PACKAGES[self.package]


def _order() -> list[str]:
    wanted = os.environ.get(ENV_CLIENT, "").strip().lower()
    if wanted in ("massive", "polygon"):
        return [wanted] + [p for p in ("polygon", "massive") if p != wanted]
    return ["polygon", "massive"]


def load_market_client() -> MarketClient:
    """The first client package that imports, in the order above.

    Raises:
        MissingDependency: neither package imports; the message names the missing module and the fix.
    """
    problems = []
    for package in _order():
        try:
            module = importlib.import_module(package)
            exceptions = importlib.import_module(f"{package}.exceptions")
            return MarketClient(package, module.WebSocketClient, module.RESTClient, exceptions.AuthError)
        except ImportError as exc:  # the package, or one of its own dependencies (websockets, urllib3…)
            problems.append(f"{PACKAGES[package]}: {exc}")
    raise MissingDependency(missing_message("the Polygon/Massive client", "; ".join(problems)))


MISSING_MARK = "cannot run: a Python package is missing"


def missing_packages(statuses) -> list[str]:
    """The details of the sources (``SourceStatus``) that cannot run for a missing package (for ``collect``'s exit)."""
    return [f"{s.name}: {s.detail}" for s in statuses if MISSING_MARK in (s.detail or "")]


def missing_message(what: str, error: str) -> str:
    """One sentence for the status bar and the log: what cannot run, why, and the command that fixes it."""
    return (f"{what} {MISSING_MARK} ({error}); reinstall TickerWire with "
            "`.venv/bin/pip install -e .` (see README, Two commands)")


def check_import(module: str, what: str) -> None:
    """Import ``module`` now, so a missing package is one clear :class:`MissingDependency` before any work."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(missing_message(what, str(exc))) from exc
