"""Small persisted state for live sources (watermarks, budget counters) as atomically written JSON.

Sources run on the pipeline's asyncio thread, not the store's worker thread, so they keep
their own file under ``tickerwire_home()`` rather than the store's ``meta`` table. A write
goes to a temporary file that replaces the old one (``os.replace``): a crash leaves either
the old or the new state, never half of one. An unreadable file is reported and ignored
(the source then re-fetches a little more, which the store's upserts make harmless).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class JsonState:
    """A JSON object on disk: :meth:`load` once, :meth:`save` whenever it changed."""

    def __init__(self, path: Path | None) -> None:
        """``path=None`` keeps the state in memory only (tests, throwaway runs)."""
        self.path = Path(path) if path is not None else None

    def load(self) -> dict:
        """The saved object, or ``{}`` if there is none or it cannot be read (logged)."""
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("state file %s could not be read (%s); starting afresh", self.path, exc)
            return {}
        if not isinstance(data, dict):
            log.warning("state file %s does not hold a JSON object; starting afresh", self.path)
            return {}
        return data

    def save(self, data: dict) -> None:
        """Replace the file with ``data``; errors are logged, not raised (the source keeps running)."""
        if self.path is None:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("state file %s could not be written: %s", self.path, exc)
