"""Apache Iceberg archive: every candle and article ever seen, in day-partitioned tables.

The hot store keeps a few days; this archive keeps everything, in tables that
any Iceberg engine (Spark, Trino, DuckDB, Flink) can read. Embedded mode uses a
SQL catalog in a SQLite file next to a local file warehouse; stack mode uses a
REST catalog and S3-compatible storage (MinIO), chosen by :class:`ArchiveConfig`.

Writes are buffered and appended as one Arrow table per :meth:`IcebergArchive.flush`
(never one commit per message). Appending the same candle twice is allowed — a
replay, a late correction — and never shows twice: reads keep the latest write per
key, and compaction (:meth:`IcebergArchive.compact`) rewrites a day partition into
one deduplicated file. After each flush, any touched day holding more than
``max_files_per_day`` data files is compacted, so a day partition never stays
above that bound.

It also honours the :class:`~backend.stores.base.CandleStore` protocol
(``upsert_*`` buffer, ``flush`` appends), so the pipeline can fan out to it like any store.

Example::

    archive = IcebergArchive.local("~/.local/share/tickerwire/archive")
    archive.append_candles(candles)
    archive.candles("AAPL", Timeframe.M1, start_ms, end_ms)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pyarrow as pa
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import CommitFailedException, NamespaceAlreadyExistsError, TableAlreadyExistsError
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo, GreaterThanOrEqual, LessThan
from pyiceberg.table import Table

from backend.model import Article, Candle, Timeframe
from backend.stores.base import StoreError
from backend.stores.iceberg_tables import (
    CANDLE_SCHEMA,
    CANDLE_SORT,
    CANDLE_SPEC,
    CANDLES,
    NAMESPACE,
    NEWS,
    NEWS_SCHEMA,
    NEWS_SPEC,
    arrow_to_articles,
    arrow_to_candles,
    articles_to_arrow,
    candles_to_arrow,
    day_of,
    latest_candle_rows,
)

log = logging.getLogger(__name__)

#: Table properties of both tables. (Smaller Parquet row groups, tried for one-symbol reads,
#: made appends 2× slower without making reads faster.)
TABLE_PROPERTIES = {"write.parquet.compression-codec": "zstd"}

#: Environment variables read for S3 credentials in stack mode (never stored in settings files).
S3_KEY_ENV = "TICKERWIRE_S3_ACCESS_KEY_ID"
S3_SECRET_ENV = "TICKERWIRE_S3_SECRET_ACCESS_KEY"


@dataclass(frozen=True)
class ArchiveConfig:
    """Where the archive's catalog and data files live.

    Attributes:
        kind: ``"sql"`` (SQLite catalog + local warehouse, embedded mode) or ``"rest"``
            (REST catalog + S3-compatible object store, stack mode).
        warehouse: Local directory (sql) or warehouse location such as ``s3://tickerwire/`` (rest).
        uri: REST catalog URL (rest only), e.g. ``http://127.0.0.1:8181``.
        s3_endpoint: S3 endpoint for MinIO, e.g. ``http://127.0.0.1:9000`` (rest only).
        s3_region: S3 region name.
        extra: Further pyiceberg catalog properties, passed through unchanged.
    """

    kind: str = "sql"
    warehouse: str = ""
    uri: str = ""
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    extra: Mapping[str, str] = field(default_factory=dict)

    def catalog_properties(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """Return the pyiceberg catalog properties for this configuration.

        S3 credentials come from ``env`` (default ``os.environ``: ``TICKERWIRE_S3_ACCESS_KEY_ID``
        and ``TICKERWIRE_S3_SECRET_ACCESS_KEY``), so no secret is ever written to a settings file.

        Raises:
            ValueError: For an unknown kind or a missing required field.
        """
        env = os.environ if env is None else env
        if self.kind == "sql":
            if not self.warehouse:
                raise ValueError("a sql archive needs a warehouse directory")
            root = Path(self.warehouse).expanduser().resolve()
            props = {"type": "sql", "uri": f"sqlite:///{root / 'catalog.db'}", "warehouse": root.as_uri()}
        elif self.kind == "rest":
            if not self.uri:
                raise ValueError("a rest archive needs the catalog uri")
            props = {"type": "rest", "uri": self.uri}
            if self.warehouse:
                props["warehouse"] = self.warehouse
            if self.s3_endpoint:
                props["s3.endpoint"] = self.s3_endpoint
                props["s3.path-style-access"] = "true"
            props["s3.region"] = self.s3_region
            if env.get(S3_KEY_ENV):
                props["s3.access-key-id"] = env[S3_KEY_ENV]
            if env.get(S3_SECRET_ENV):
                props["s3.secret-access-key"] = env[S3_SECRET_ENV]
        else:
            raise ValueError(f"unknown archive catalog kind {self.kind!r}; choose 'sql' or 'rest'")
        props.update(self.extra)
        return props


class IcebergArchive:
    """Append-only, day-partitioned archive of candles and articles.

    Args:
        catalog: A pyiceberg catalog (see :meth:`local` and :meth:`from_config`).
        max_buffer_rows: Rows buffered (candles + articles) before :meth:`add_candles` /
            :meth:`add_articles` flush on their own.
        max_files_per_day: A flush compacts any day it touched that then holds more data files.
    """

    def __init__(self, catalog: Catalog, *, max_buffer_rows: int = 200_000, max_files_per_day: int = 4) -> None:
        self._catalog = catalog
        self._max_buffer_rows = max_buffer_rows
        self.max_files_per_day = max_files_per_day
        self._lock = threading.RLock()
        self._candle_buffer: list[Candle] = []
        self._article_buffer: list[Article] = []
        self._last_seq = 0
        try:
            try:
                catalog.create_namespace(NAMESPACE)
            except NamespaceAlreadyExistsError:
                pass
            self._candles = self._table(CANDLES, CANDLE_SCHEMA, CANDLE_SPEC, CANDLE_SORT)
            self._news = self._table(NEWS, NEWS_SCHEMA, NEWS_SPEC, None)
        except StoreError:
            raise
        except Exception as exc:  # catalog unreachable, corrupt metadata, permissions
            raise StoreError(f"cannot open the Iceberg archive: {exc}") from exc

    @classmethod
    def local(cls, warehouse_dir: str | os.PathLike[str], **kwargs: int) -> "IcebergArchive":
        """Open (creating if needed) an embedded archive: SQLite catalog + file warehouse in one directory."""
        root = Path(warehouse_dir).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the archive's directory {root}: {exc}") from exc
        return cls.from_config(ArchiveConfig(kind="sql", warehouse=str(root)), **kwargs)

    @classmethod
    def from_config(cls, config: ArchiveConfig, **kwargs: int) -> "IcebergArchive":
        """Open the archive a :class:`ArchiveConfig` describes (embedded or stack mode)."""
        return cls.from_properties(config.catalog_properties(), **kwargs)

    @classmethod
    def from_properties(cls, properties: Mapping[str, str], **kwargs: int) -> "IcebergArchive":
        """Open the archive behind a pyiceberg catalog given by its properties (``type``, ``uri``, ``s3.*``…)."""
        try:
            catalog = load_catalog("tickerwire", **properties)
        except Exception as exc:
            raise StoreError(f"cannot load the {properties.get('type', '')} Iceberg catalog: {exc}") from exc
        return cls(catalog, **kwargs)

    # -- writing ---------------------------------------------------------------------------

    def add_candles(self, candles: Iterable[Candle]) -> None:
        """Buffer candles; flush when the buffer reaches ``max_buffer_rows``."""
        with self._lock:
            self._candle_buffer.extend(candles)
            if self.buffered_rows >= self._max_buffer_rows:
                self.flush()

    def add_articles(self, articles: Iterable[Article]) -> None:
        """Buffer articles; flush when the buffer reaches ``max_buffer_rows``."""
        with self._lock:
            self._article_buffer.extend(articles)
            if self.buffered_rows >= self._max_buffer_rows:
                self.flush()

    def append_candles(self, candles: Iterable[Candle]) -> None:
        """Append a batch of candles now (one Iceberg commit, plus anything already buffered)."""
        with self._lock:
            self._candle_buffer.extend(candles)
            self.flush()

    def append_articles(self, articles: Iterable[Article]) -> None:
        """Append a batch of articles now (one Iceberg commit, plus anything already buffered)."""
        with self._lock:
            self._article_buffer.extend(articles)
            self.flush()

    #: :class:`backend.stores.base.CandleStore` spelling: buffered appends read back as upserts.
    upsert_candles = add_candles
    upsert_articles = add_articles

    @property
    def buffered_rows(self) -> int:
        """Rows waiting for the next flush."""
        return len(self._candle_buffer) + len(self._article_buffer)

    def flush(self) -> None:
        """Append everything buffered (one commit per table), then compact days with too many files.

        Raises:
            StoreError: The catalog or storage refused the commit; the rows stay buffered.
        """
        with self._lock:
            touched_candle_days: set[int] = set()
            touched_news_days: set[int] = set()
            if self._candle_buffer:
                batch = candles_to_arrow(self._candle_buffer, self._next_seq())
                self._append(self._candles, batch)
                touched_candle_days = {day_of(c.start_ms) for c in self._candle_buffer}
                self._candle_buffer.clear()
            if self._article_buffer:
                batch = articles_to_arrow(self._article_buffer, self._next_seq())
                self._append(self._news, batch)
                touched_news_days = {day_of(a.published_ms) for a in self._article_buffer}
                self._article_buffer.clear()
            for table, days in ((CANDLES, touched_candle_days), (NEWS, touched_news_days)):
                if not days:
                    continue
                counts = self.file_counts(table)
                for day in sorted(days):
                    if counts.get(day, 0) > self.max_files_per_day:
                        self._compact_table(table, day)

    def close(self) -> None:
        """Flush what is buffered."""
        self.flush()

    # -- reading ---------------------------------------------------------------------------

    def candles(
        self, symbol: str, timeframe: Timeframe, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[Candle]:
        """Candles of one symbol and timeframe with ``start_ms <= start < end_ms``, oldest first, one per key."""
        row_filter = And(
            And(EqualTo("symbol", symbol), EqualTo("timeframe", timeframe.value)),
            _range_filter("start", start_ms, end_ms),
        )
        return arrow_to_candles(latest_candle_rows(self._scan(self._candles, row_filter)))

    def candle_rows(self, start_ms: int | None = None, end_ms: int | None = None) -> pa.Table:
        """All candles (every symbol and timeframe) in a range as a deduplicated Arrow table (for export)."""
        return latest_candle_rows(self._scan(self._candles, _range_filter("start", start_ms, end_ms)))

    def articles(
        self, start_ms: int | None = None, end_ms: int | None = None, symbols: Sequence[str] | None = None
    ) -> list[Article]:
        """Articles published in ``[start_ms, end_ms)`` matching any of ``symbols`` (all when None), oldest first."""
        found = arrow_to_articles(self._scan(self._news, _range_filter("published", start_ms, end_ms)))
        if symbols is None:
            return found
        wanted = set(symbols)
        return [a for a in found if a.symbols & wanted]

    # -- maintenance -----------------------------------------------------------------------

    def file_counts(self, table: str = CANDLES) -> dict[int, int]:
        """Map UTC day number -> number of live data files in that day partition of ``table``."""
        iceberg = self._refresh(self._table_for(table))
        if iceberg.current_snapshot() is None:
            return {}
        files = iceberg.inspect.files()
        counts: dict[int, int] = {}
        for partition in files.column("partition").to_pylist():
            day = next(iter(partition.values()))
            if day is not None:
                day = _as_day_number(day)
                counts[day] = counts.get(day, 0) + 1
        return counts

    def compact(self, day_ms_or_number: int) -> None:
        """Rewrite one UTC day of both tables as deduplicated files (one per table when it fits).

        Args:
            day_ms_or_number: Any timestamp in the day (UTC ms) or a day number since the epoch.
        """
        day = day_ms_or_number if day_ms_or_number < 1_000_000 else day_of(day_ms_or_number)
        with self._lock:
            self._compact_table(CANDLES, day)
            self._compact_table(NEWS, day)

    def compact_due(self) -> list[tuple[str, int]]:
        """Return (table, day) pairs whose partition holds more than ``max_files_per_day`` files."""
        return [
            (table, day)
            for table in (CANDLES, NEWS)
            for day, count in sorted(self.file_counts(table).items())
            if count > self.max_files_per_day
        ]

    def expire_snapshots(self, older_than_ms: int) -> int:
        """Drop snapshots older than ``older_than_ms`` and delete the data files only they referenced.

        The current snapshot is always kept. This is what frees the space of files that
        compaction replaced (time travel to the expired snapshots is lost).

        Returns:
            How many data files were deleted.
        """
        deleted = 0
        with self._lock:
            for table in (self._candles, self._news):
                table = self._refresh(table)
                current = table.current_snapshot()
                if current is None:
                    continue
                expiring = [s for s in table.snapshots() if s.timestamp_ms < older_than_ms
                            and s.snapshot_id != current.snapshot_id]
                if not expiring:
                    continue
                candidates = {path for s in expiring for path in _data_files(table, s.snapshot_id)}
                table.maintenance.expire_snapshots().by_ids([s.snapshot_id for s in expiring]).commit()
                table = self._refresh(table)
                kept = {path for s in table.snapshots() for path in _data_files(table, s.snapshot_id)}
                for path in sorted(candidates - kept):
                    table.io.delete(path)
                    deleted += 1
        return deleted

    # -- internals -------------------------------------------------------------------------

    def _compact_table(self, name: str, day: int) -> None:
        table = self._refresh(self._table_for(name))
        day_filter = EqualTo("day", _date(day))
        rows = self._scan(table, day_filter)
        if rows.num_rows == 0:
            return
        if name == CANDLES:
            rows = latest_candle_rows(rows)
        else:
            # Every sighting scanned here was published this day, so the merge (earliest
            # published) stays in this partition.
            rows = articles_to_arrow(arrow_to_articles(rows), self._next_seq())
        started = time.perf_counter()
        self._commit(lambda t: t.overwrite(rows, overwrite_filter=day_filter), table)
        log.info("compacted %s day %s: %d rows in %.2fs", name, day, rows.num_rows, time.perf_counter() - started)

    def _append(self, table: Table, batch: pa.Table) -> None:
        self._commit(lambda t: t.append(batch), table)

    def _commit(self, operation, table: Table, attempts: int = 5) -> None:
        for attempt in range(1, attempts + 1):
            try:
                operation(table)
                return
            except CommitFailedException as exc:
                if attempt == attempts:
                    raise StoreError(f"Iceberg commit to {table.name()} failed {attempts} times: {exc}") from exc
                time.sleep(0.05 * attempt)
                table = self._refresh(table)
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(f"Iceberg write to {table.name()} failed: {exc}") from exc

    def _scan(self, table: Table, row_filter: BooleanExpression) -> pa.Table:
        try:
            return self._refresh(table).scan(row_filter=row_filter).to_arrow()
        except Exception as exc:
            raise StoreError(f"Iceberg read from {table.name()} failed: {exc}") from exc

    def _refresh(self, table: Table) -> Table:
        return table.refresh()

    def _table_for(self, name: str) -> Table:
        return self._candles if name == CANDLES else self._news

    def _table(self, name: str, schema, spec, sort) -> Table:
        identifier = (NAMESPACE, name)
        kwargs = {"partition_spec": spec, "properties": TABLE_PROPERTIES}
        if sort is not None:
            kwargs["sort_order"] = sort
        try:
            return self._catalog.create_table(identifier, schema=schema, **kwargs)
        except TableAlreadyExistsError:
            return self._catalog.load_table(identifier)

    def _next_seq(self) -> int:
        """A strictly increasing write sequence (wall clock ns, bumped on ties)."""
        self._last_seq = max(time.time_ns(), self._last_seq + 1)
        return self._last_seq


def _range_filter(column: str, start_ms: int | None, end_ms: int | None) -> BooleanExpression:
    """``start_ms <= column < end_ms`` plus the matching ``day`` bounds, so whole partitions are pruned."""
    expr: BooleanExpression = AlwaysTrue()
    if start_ms is not None:
        expr = And(expr, GreaterThanOrEqual(column, start_ms * 1000))
        expr = And(expr, GreaterThanOrEqual("day", _date(day_of(start_ms))))
    if end_ms is not None:
        expr = And(expr, LessThan(column, end_ms * 1000))
        expr = And(expr, LessThan("day", _date(day_of(end_ms - 1) + 1)))
    return expr


def _date(day: int) -> str:
    """ISO date string of a day number (pyiceberg parses it into a date literal)."""
    import datetime as dt

    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def _as_day_number(value: object) -> int:
    """Partition values of a day transform come back as a date or an int; return days since epoch."""
    import datetime as dt

    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days
    return int(value)


def _data_files(table: Table, snapshot_id: int) -> list[str]:
    """Paths of the data files a snapshot references."""
    return table.inspect.files(snapshot_id).column("file_path").to_pylist()
