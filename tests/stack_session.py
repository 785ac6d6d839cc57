"""A market session through a stack from the command line, compared with the embedded pipeline (the oracle).

``session_dir`` writes a recorded session (generated frames, then the recorded sample with its news);
``embedded_export`` replays it through the embedded pipeline and exports it; ``stack_export`` exports
what ``collect --pipeline stack`` left in a stack, once it equals the oracle's or the time is up.
``differences`` compares two exports; it allows one thing only: a VWAP within 1e-12 relative of the
oracle's. A roll-up's VWAP is a sum of price × volume over its minutes divided by their volume; the Flink
job (Java) and the embedded aggregator add the same doubles in a different order, and the last bits
differ (seen on 15m, 1h and 1d candles, with or without a failure). Every row, price, volume and trade
count must be equal. ``stack_sinks`` runs a :class:`~backend.pipeline.stack_sinks.SinkService` beside the test, as the
stack's sink process does, and makes ``--pipeline stack`` resolve to the given stack.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

from integration.market_session import generated_frames

from app.cli import main
from backend.model import Timeframe
from helpers import SAMPLE_SESSION

#: The symbols the recorded sample has bars for.
SAMPLE_SYMBOLS = ["AAPL", "AMZN", "BRK.B"]


@contextlib.contextmanager
def stack_sinks(access, monkeypatch):
    """``--pipeline stack`` finds the stack of ``access`` (:class:`stack.access.StackAccess`), and its sinks
    run while the block does; yields the :class:`~backend.pipeline.runtime.StackConnection`."""
    from app import stack_mode
    from backend.bus.kafka import KafkaPublisher
    from backend.pipeline.stack_sinks import SinkService
    from backend.stores.influx import InfluxSettings, InfluxStore

    connection = stack_mode.connection_from(access)
    monkeypatch.setattr(stack_mode, "running_connection", lambda home=None: connection)
    store = InfluxStore(InfluxSettings(url=connection.influx_url, token=connection.influx_token,
                                       bucket=connection.influx_bucket, retention_days=None))
    archiver = None
    if connection.archive:
        from backend.processing.archive_process import ArchiveProcess
        from backend.processing.archiver import Archiver

        archiver = Archiver(lambda: ArchiveProcess(properties=connection.archive), connection.archive_where,
                            interval_s=2.0)
    sinks = SinkService(connection.kafka_bootstrap, store, KafkaPublisher(connection.kafka_bootstrap), archiver,
                        retention_days=None)
    sinks.start()
    try:
        yield connection
    finally:
        sinks.stop()
        if archiver is not None:
            archiver.close()
        store.close()


def session_dir(tmp_path: Path, name: str, symbols: list[str], minutes: int, seed: int) -> Path:
    """A recorded session directory: generated frames for ``symbols``, then the recorded sample with its news."""
    session = tmp_path / name
    session.mkdir()
    frames = generated_frames(symbols, minutes=minutes, seed=seed)
    frames += (SAMPLE_SESSION / "polygon.jsonl").read_text().splitlines()
    (session / "polygon.jsonl").write_text("\n".join(frames) + "\n")
    (session / "guardian.jsonl").write_text((SAMPLE_SESSION / "guardian.jsonl").read_text())
    return session


def export(tmp_path: Path, symbols: list[str], *feed: str) -> dict:
    """Every timeframe's candles of ``symbols``, and the news about them, as the command line exports them."""
    out: dict = {}
    for symbol in symbols:
        for tf in Timeframe:
            path = tmp_path / f"export-{symbol}-{tf}.csv"
            assert main(["export", "candles", *feed, "--symbol", symbol, "--timeframe", tf.value, "--format", "csv",
                         "--output", str(path)]) == 0
            out[(symbol, tf.value)] = path.read_text().splitlines()
    news = tmp_path / "export-news.json"
    assert main(["export", "news", *feed, "--format", "json", "--output", str(news)]) == 0
    out["news"] = [(a["id"], a["title"], sorted(a["symbols"])) for a in json.loads(news.read_text())
                   if set(a["symbols"]) & set(symbols)]
    return out


def embedded_export(tmp_path: Path, session: Path, symbols: list[str]) -> dict:
    """The oracle: the session replayed through the embedded pipeline, exported."""
    assert main(["--replay", str(session), "--speed", "100000", "collect", "--watch", ",".join(symbols),
                 "--exit-after", "15"]) == 0
    return export(tmp_path, symbols, "--replay", str(session))


def differences(found: dict, expected: dict) -> list[str]:
    """What differs between two exports (empty: equal but for VWAP rounding; see the module docstring)."""
    out = []
    for key in sorted(set(found) | set(expected), key=str):
        a, b = found.get(key), expected.get(key)
        if key == "news" or a is None or b is None or len(a) != len(b):
            if a != b:
                out.append(f"{key}: {a!r} != {b!r}")
            continue
        for row_a, row_b in zip(a, b):
            if row_a != row_b and not _same_but_vwap_rounding(row_a, row_b, a[0].split(",")):
                out.append(f"{key}: {row_a} != {row_b}")
    return out


def _same_but_vwap_rounding(row_a: str, row_b: str, header: list[str]) -> bool:
    fields_a, fields_b = row_a.split(","), row_b.split(",")
    vwap = header.index("vwap")
    rest_equal = [f for i, f in enumerate(fields_a) if i != vwap] == [f for i, f in enumerate(fields_b) if i != vwap]
    a, b = float(fields_a[vwap]), float(fields_b[vwap])
    return rest_equal and math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)


def stack_export(tmp_path: Path, symbols: list[str], expected: dict, settle_s: float = 300) -> list[str]:
    """How the stack's export differs from ``expected`` (:func:`differences`), once it does not (the jobs and
    sinks take a moment) or ``settle_s`` is up."""
    deadline = time.monotonic() + settle_s
    while True:
        found = differences(export(tmp_path, symbols, "--pipeline", "stack"), expected)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(3)


def collect(session: Path, symbols: list[str], speed: float, exit_after_s: float) -> int:
    """``tickerwire collect --pipeline stack --replay SESSION``: its exit status."""
    return main(["collect", "--pipeline", "stack", "--replay", str(session), "--speed", str(speed),
                 "--watch", ",".join(symbols), "--exit-after", str(exit_after_s)])
