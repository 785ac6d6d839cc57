"""Shared test fakes and builders (one place, real interfaces)."""

from __future__ import annotations

import json
from pathlib import Path

import keyring.backend

from backend.model import Bar
from backend.wire.polygon import parse_frame

SHARED = Path(__file__).resolve().parent / "data" / "samples"  # copies of the shared wire-format samples
REPO = Path(__file__).resolve().parents[1]
SAMPLE_SESSION = REPO / "resources" / "sessions" / "2025-02-03"
T0 = 1738593060000  # 2025-02-03 14:31 UTC (09:31 New York)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend that keeps passwords in memory (tests must not touch the OS keyring)."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        self.passwords.pop((service, username), None)


def bar(symbol="AAPL", start=T0, o=10.0, h=11.0, l=9.0, c=10.5, v=100.0, vw=None, ev="AM", z=10.0) -> Bar:
    """A Bar with sensible defaults; ``ev="A"`` makes a one-second bar."""
    length = 60_000 if ev == "AM" else 1_000
    return Bar(ev, symbol, start, start + length, o, h, l, c, v, vw if vw is not None else (o + c) / 2,
               0.0, 0.0, 0.0, z, False)


def sample_bars() -> list[Bar]:
    """The bars of the recorded sample session, in arrival order."""
    out: list[Bar] = []
    for line in (SAMPLE_SESSION / "polygon.jsonl").read_text().splitlines():
        out.extend(parse_frame(line).bars)
    return out


def sample_guardian_page() -> str:
    return json.dumps(json.loads((SHARED / "guardian_search_page.json").read_text()))


def embedded_pipeline(path, watchlist, sources, **options):
    """A real embedded pipeline (core + embedded processor) on the store at ``path`` (not started)."""
    from backend.pipeline.core import PipelineCore
    from backend.pipeline.embedded import EmbeddedProcessor

    return PipelineCore(EmbeddedProcessor(path, **options), watchlist, sources)
