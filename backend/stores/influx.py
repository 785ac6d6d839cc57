"""InfluxDB hot store (stack mode): candles, news and impacts written through, read back with Flux.

Implements :class:`backend.stores.base.CandleStore` on influxdb-client against
InfluxDB 2 or InfluxDB 1.8+ (whose ``/api/v2/write`` and ``/api/v2/query``
endpoints are the same; a 1.x bucket is ``"database/retention-policy"``).

Writing:

* a write returns once the server holds every point of it, in requests of ``batch_size``
  points, or raises :class:`StoreError` with none of them kept here. Nothing waits in this
  process to be posted later: the writer's input (the stack's Kafka sink reads it from a
  topic) is the only copy until then, so a point is never posted after a newer version of
  it that another reader of the same input wrote meanwhile;
* every point is written with ``WritePrecision.MS`` (see :mod:`backend.stores.influx_lines`);
  a point is identified by (measurement, tags, time), so replays never duplicate;
* connection failures, timeouts, 429 and 5xx are retried with exponential backoff; when
  retries run out :attr:`InfluxStore.health` becomes ``UNREACHABLE`` and the write raises;
* a batch the server rejects (400/422: field type conflict, bad value) is split
  until the offending points are isolated; each is logged with the server's reason and
  kept in :attr:`InfluxStore.dead_letters` (and appended to a JSON-lines file when
  configured), never dropped silently. The other points of the batch are written;
* points older than ``retention_days`` are not written (counted in ``expired_skipped``); a
  maintenance thread deletes what ages past it every ``retention_interval_s`` and, while the
  server is unreachable, pings it every ``check_interval_s`` so the health says when it is back.
"""

from __future__ import annotations

import enum
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from concurrent.futures import Future, ThreadPoolExecutor, wait
from itertools import islice
from typing import Callable, Iterable, Iterator, Sequence

from backend.model import Article, Candle, NewsImpact, Timeframe
from backend.stores.base import StoreError
from backend.stores.influx_lines import CANDLES, encode_articles, encode_candles, impact_line, line_time_ms
from backend.stores.influx_queries import (FluxError, candles_query, csv_rows, first_candle_query, impacts_query,
                                           news_query, parse_candles, parse_impacts, parse_news, parse_time_ms,
                                           symbols_before_query)
from backend.stores.retention import DAY_MS, Retention

try:
    from influxdb_client import InfluxDBClient, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client.domain.dialect import Dialect
    from influxdb_client.rest import ApiException
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("the InfluxDB store needs influxdb-client: reinstall TickerWire (pip install -e .)") from exc

log = logging.getLogger(__name__)

_PLAIN_CSV = Dialect(header=True, annotations=[], delimiter=",", comment_prefix="#", date_time_format="RFC3339")


class Health(enum.Enum):
    """What the status bar shows for the hot store."""

    UNKNOWN = "unknown"
    OK = "ok"
    DEGRADED = "degraded"  # reachable, but some points were rejected (see dead letters)
    UNREACHABLE = "unreachable"
    MISCONFIGURED = "misconfigured"  # 401/403/404: wrong token, org or bucket


@dataclass(frozen=True)
class HealthState:
    """The store's health and the last error behind it (empty when OK)."""

    health: Health
    detail: str = ""


@dataclass(frozen=True)
class DeadLetter:
    """A point the server rejected, kept for inspection or a later retry."""

    line: str
    reason: str
    status: int
    at_ms: int


@dataclass
class InfluxSettings:
    """Connection and batching settings of the hot store.

    Attributes:
        url: Server URL, e.g. ``http://127.0.0.1:8086``.
        token: API token (2.x) or ``"user:password"`` (1.x); never logged, never in ``repr``.
        org: Organisation (ignored by 1.x).
        bucket: Bucket, ``"db/rp"`` on 1.x.
        retention_days: Days the hot store keeps (None = forever); older points are not written.
        batch_size: Points per write request (a larger write is posted in several, each encoded while the one
            before is posted).
        check_interval_s: How often the maintenance thread asks an unreachable server whether it is back (so
            the health says so without waiting for the next write or read); 0: no thread.
        retention_interval_s: How often the maintenance thread deletes data past retention
            (:meth:`InfluxStore.enforce_retention` deletes it when called).
        max_retries: Retries of a failed request before the write raises.
        retry_base_s: First backoff; doubles each retry, capped at 5 s.
        timeout_ms: HTTP timeout of one request.
        dead_letter_path: JSON-lines file that also receives every dead letter (None: memory only).
        api_v1: True for InfluxDB 1.x, False for 2.x, None to ask the server (``/ping`` version header).
        create_bucket: Create the bucket with its retention on open.
    """

    url: str = "http://127.0.0.1:8086"
    token: str = field(default="", repr=False)
    org: str = "tickerwire"
    bucket: str = "tickerwire/hot"
    retention_days: int | None = 7
    batch_size: int = 10_000
    check_interval_s: float = 1.0
    retention_interval_s: float = 3_600.0
    max_retries: int = 3
    retry_base_s: float = 0.2
    timeout_ms: int = 10_000
    dead_letter_path: Path | None = None
    api_v1: bool | None = None
    create_bucket: bool = True


class InfluxStore:
    """Hot store on InfluxDB (see the module docstring for the write semantics).

    Args:
        settings: Where and how to write.
        on_health: Called with a :class:`HealthState` whenever the health changes (from any thread).
        clock_ms: Wall clock in ms (for retention and dead-letter stamps); injectable for tests.

    Raises:
        StoreError: The server cannot be reached or refuses to create the bucket at open.
        ValueError: Inconsistent settings.
    """

    def __init__(
        self,
        settings: InfluxSettings,
        *,
        on_health: Callable[[HealthState], None] | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        if settings.batch_size <= 0:
            raise ValueError("InfluxSettings need batch_size > 0")
        self.settings = settings
        self._on_health = on_health
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._state = HealthState(Health.UNKNOWN)
        self._write_lock = threading.Lock()  # one write at a time: two callers' batches never interleave
        self.dead_letters: list[DeadLetter] = []
        self.expired_skipped = 0
        self.points_written = 0
        self._client = InfluxDBClient(
            url=settings.url, token=settings.token, org=settings.org, timeout=settings.timeout_ms, retries=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._query_api = self._client.query_api()
        v1 = settings.api_v1 if settings.api_v1 is not None else self._detect_v1()
        self.retention = Retention(
            settings.url, settings.token, settings.org, settings.bucket, settings.retention_days,
            v1=v1, timeout_s=settings.timeout_ms / 1000,
        )
        if settings.create_bucket:
            try:
                self.retention.ensure_bucket()
            except StoreError as exc:
                self._set_health(Health.UNREACHABLE if "unreachable" in str(exc) else Health.MISCONFIGURED, str(exc))
                self._client.close()
                raise
        self._set_health(Health.OK)
        self._poster = ThreadPoolExecutor(max_workers=1, thread_name_prefix="influx-post")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if settings.check_interval_s > 0:
            self._thread = threading.Thread(target=self._maintain, name="influx-maintenance", daemon=True)
            self._thread.start()

    def __repr__(self) -> str:
        return f"InfluxStore(url={self.settings.url!r}, bucket={self.settings.bucket!r}, health={self.health.value})"

    # -- health ----------------------------------------------------------------------------

    @property
    def health(self) -> Health:
        """Current health (see :class:`Health`)."""
        return self._state.health

    @property
    def health_state(self) -> HealthState:
        """Current health with the last error's text."""
        return self._state

    def _set_health(self, health: Health, detail: str = "") -> None:
        previous = self._state
        self._state = HealthState(health, detail)
        if previous.health != health:
            log.log(logging.INFO if health == Health.OK else logging.WARNING, "InfluxDB store %s %s",
                    health.value, detail)
            if self._on_health is not None:
                self._on_health(self._state)

    # -- writing ---------------------------------------------------------------------------

    def upsert_candles(self, candles: Iterable[Candle]) -> None:
        """Write candles as points, replacing any point with the same key (see :meth:`write`)."""
        self.write(candles=candles)

    def upsert_articles(self, articles: Iterable[Article]) -> None:
        """Merge articles with their stored sightings and write them as news points, one per symbol.

        Each point of an article carries the merged article (union of symbols, newest
        text), so a query through any one symbol returns the whole article. When the
        server cannot be read, the articles are written unmerged (reads still merge by id).
        """
        self.write(articles=articles)

    def upsert_impacts(self, impacts: Iterable[NewsImpact]) -> None:
        """Write news impacts, one point per (article, symbol), replacing the stored one."""
        self.write(impacts=impacts)

    def write(self, candles: Iterable[Candle] = (), articles: Iterable[Article] = (),
              impacts: Iterable[NewsImpact] = ()) -> None:
        """Write these points now: when it returns the server holds them all (but the dead-lettered ones);
        when it raises, none of them waits here to be written later.

        Raises:
            StoreError: the server stayed unreachable or misconfigured through the retries.
        """
        self._write_lines(self._lines(candles, articles, impacts))

    def _write_lines(self, lines: Iterable[str]) -> None:
        """Post lines in requests of ``batch_size``, encoding the next request while the last one is posted (one
        request in flight, so they land in order); return when all are stored, or raise with none in flight."""
        with self._write_lock:
            in_flight: Future | None = None
            try:
                for batch in _batches(lines, self.settings.batch_size):
                    batch = self._drop_expired(batch)
                    if in_flight is not None:
                        in_flight.result()
                    in_flight = self._poster.submit(self._write_batch, batch) if batch else None
                if in_flight is not None:
                    in_flight.result()
            finally:
                if in_flight is not None:
                    wait([in_flight])  # raising on this side: the request ends before the caller hears of it

    def _lines(self, candles: Iterable[Candle] = (), articles: Iterable[Article] = (),
               impacts: Iterable[NewsImpact] = ()) -> Iterator[str]:
        """Line protocol of candles, articles (merged with their stored sightings) and impacts, as it is
        encoded; points that cannot be encoded are dead-lettered at the end."""
        rejected: list[tuple[str, str]] = []
        yield from encode_candles(candles, rejected)
        articles = list(articles)
        if articles:
            try:
                articles = self._merge_with_stored(articles)
            except StoreError as exc:
                log.warning("articles written without merging with stored sightings: %s", exc)
            yield from encode_articles(articles, rejected)
        yield from map(impact_line, impacts)
        self._dead_letter_local(rejected)

    def impacts(self, start_ms: int | None = None, end_ms: int | None = None,
                symbols: Sequence[str] | None = None, article_id: str | None = None) -> list[NewsImpact]:
        """Impacts of articles published in ``[start_ms, end_ms)``, of ``symbols`` (all when None) and/or one article.

        Raises:
            StoreError: the server is unreachable or the query failed.
        """
        if _empty(start_ms, end_ms) or (symbols is not None and not symbols):
            return []
        text = self._query(impacts_query(self.settings.bucket, start_ms, end_ms, symbols, article_id,
                                         self.retention.v1))
        try:
            return parse_impacts(text)
        except FluxError as exc:
            raise StoreError(f"Flux query failed: {exc}") from exc

    def _merge_with_stored(self, articles: list[Article]) -> list[Article]:
        if not articles:
            return articles
        window = 2 * DAY_MS  # a republished article keeps (about) its publication time
        start = min(a.published_ms for a in articles) - window
        end = max(a.published_ms for a in articles) + window
        flux = news_query(self.settings.bucket, start, end, None, self.retention.v1)
        stored = {a.id: a for a in parse_news(self._query(flux))}
        merged: dict[str, Article] = {}
        for article in articles:
            base = merged.get(article.id) or stored.get(article.id)
            merged[article.id] = article if base is None else base.merged(article)
        return list(merged.values())

    def _drop_expired(self, lines: list[str]) -> list[str]:
        days = self.settings.retention_days
        if not days:
            return lines
        horizon = self._clock_ms() - days * DAY_MS
        kept = [line for line in lines if line_time_ms(line) >= horizon]
        if len(kept) != len(lines):
            self.expired_skipped += len(lines) - len(kept)
            log.info("hot store: %d points older than %d days not written (the archive keeps them)",
                     len(lines) - len(kept), days)
        return kept

    def flush(self) -> None:
        """Nothing to do: nothing waits here, every write is stored when it returns."""

    def _write_batch(self, batch: list[str]) -> None:
        """Write one batch with retries; isolate and dead-letter rejected points."""
        attempt = 0
        while True:
            try:
                self._post(batch)
                self.points_written += len(batch)
                if self.health != Health.DEGRADED:
                    self._set_health(Health.OK)
                return
            except ApiException as exc:
                if exc.status in (400, 422):
                    self._isolate_rejects(batch, exc)
                    return
                if exc.status in (401, 403, 404):
                    self._set_health(Health.MISCONFIGURED, _reason(exc))
                    raise StoreError(f"InfluxDB refused the write ({exc.status}): {_reason(exc)}") from exc
                if exc.status == 413 and len(batch) > 1:
                    half = len(batch) // 2
                    self._write_batch(batch[:half])
                    self._write_batch(batch[half:])
                    return
                error: Exception = exc
            except Exception as exc:  # connection refused, timeout, DNS: the urllib3 family
                error = exc
            attempt += 1
            if attempt > self.settings.max_retries:
                detail = f"InfluxDB at {self.settings.url} is unreachable: {_short(error)}"
                self._set_health(Health.UNREACHABLE, detail)
                raise StoreError(detail) from error
            time.sleep(min(5.0, self.settings.retry_base_s * 2 ** (attempt - 1)))

    def _post(self, lines: Sequence[str]) -> None:
        self._write_api.write(
            bucket=self.settings.bucket, org=self.settings.org, record="\n".join(lines),
            write_precision=WritePrecision.MS,
        )

    def _isolate_rejects(self, batch: list[str], exc: ApiException) -> None:
        """Bisect a rejected batch down to the offending points; write the rest (idempotent)."""
        if len(batch) == 1:
            self._dead_letter(batch[0], _reason(exc), exc.status)
            return
        half = len(batch) // 2
        for part in (batch[:half], batch[half:]):
            try:
                self._post(part)
                self.points_written += len(part)
            except ApiException as inner:
                if inner.status not in (400, 422):
                    raise
                self._isolate_rejects(part, inner)

    def _dead_letter(self, line: str, reason: str, status: int) -> None:
        letter = DeadLetter(line=line, reason=reason, status=status, at_ms=self._clock_ms())
        self.dead_letters.append(letter)
        log.error("InfluxDB rejected a point (%s): %s | point: %s", status, reason, line[:1000])
        path = self.settings.dead_letter_path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(letter.__dict__) + "\n")
        self._set_health(Health.DEGRADED, f"{len(self.dead_letters)} rejected point(s); last: {reason}")

    def _dead_letter_local(self, rejected: list[tuple[str, str]]) -> None:
        for what, reason in rejected:
            self._dead_letter(what, f"not encodable: {reason}", 0)

    def retry_dead_letters(self) -> int:
        """Write every rejected point again (e.g. after fixing a schema); return how many were sent.

        A point rejected again is a dead letter again. Points that could not be encoded stay dead letters.

        Raises:
            StoreError: the server could not be reached; the dead letters are kept as they were.
        """
        letters = self.dead_letters
        retried = [d for d in letters if d.status != 0]
        self.dead_letters = [d for d in letters if d.status == 0]
        if self.health == Health.DEGRADED and not self.dead_letters:
            self._set_health(Health.OK)
        try:
            self._write_lines([d.line for d in retried])
        except StoreError:
            self.dead_letters = letters
            raise
        return len(retried)

    # -- reading ---------------------------------------------------------------------------

    def candles(
        self, symbol: str, timeframe: Timeframe, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[Candle]:
        """Candles with ``start_ms <= start < end_ms``, oldest first.

        Raises:
            StoreError: the server is unreachable or the query failed.
        """
        if _empty(start_ms, end_ms):
            return []
        flux = candles_query(self.settings.bucket, symbol, timeframe, start_ms, end_ms, self.retention.v1)
        text = self._query(flux)
        try:
            return parse_candles(text, symbol, timeframe)
        except FluxError as exc:
            raise StoreError(f"Flux query failed: {exc}") from exc

    def first_candle_start(self, symbol: str, timeframe: Timeframe) -> int | None:
        """Start of the symbol's earliest stored candle of ``timeframe``, or None.

        Raises:
            StoreError: the server is unreachable or the query failed.
        """
        try:
            rows = [r for r in csv_rows(self._query(first_candle_query(self.settings.bucket, symbol, timeframe)))
                    if r.get("_time")]
        except FluxError as exc:
            raise StoreError(f"Flux query failed: {exc}") from exc
        return min((parse_time_ms(r["_time"]) for r in rows), default=None)

    def articles(
        self, start_ms: int | None = None, end_ms: int | None = None, symbols: Sequence[str] | None = None
    ) -> list[Article]:
        """Articles published in ``[start_ms, end_ms)`` matching any of ``symbols`` (all when None), oldest first.

        Raises:
            StoreError: the server is unreachable or the query failed.
        """
        if _empty(start_ms, end_ms) or (symbols is not None and not symbols):
            return []
        text = self._query(news_query(self.settings.bucket, start_ms, end_ms, symbols, self.retention.v1))
        try:
            return parse_news(text)
        except FluxError as exc:
            raise StoreError(f"Flux query failed: {exc}") from exc

    # -- archive-first retention (backend.processing.retention) ----------------------------

    def symbols_with_candles_before(self, cutoff_ms: int) -> list[str]:
        """Symbols with a candle (of any timeframe) starting before ``cutoff_ms``.

        Raises:
            StoreError: the server is unreachable or the query failed.
        """
        try:
            rows = csv_rows(self._query(symbols_before_query(self.settings.bucket, cutoff_ms, self.retention.v1)))
            return sorted({r["_value"] for r in rows if r.get("_value")})
        except FluxError as exc:
            raise StoreError(f"Flux query failed: {exc}") from exc

    def candles_in(self, symbol: str, start_ms: int | None, end_ms: int) -> list[Candle]:
        """Every timeframe's candles of ``symbol`` starting in ``[start_ms, end_ms)``."""
        return [c for tf in Timeframe for c in self.candles(symbol, tf, start_ms, end_ms)]

    def delete_candles_before(self, symbol: str, cutoff_ms: int) -> int:
        """Delete ``symbol``'s candles older than ``cutoff_ms`` (after the archive confirmed them); return how many.

        Raises:
            StoreError: the server refused or could not be reached.
        """
        doomed = len(self.candles_in(symbol, None, cutoff_ms))
        self.retention.delete_series_older_than(CANDLES, "symbol", symbol, cutoff_ms)
        return doomed

    def _query(self, flux: str) -> str:
        try:
            response = self._query_api.query_raw(flux, org=self.settings.org, dialect=_PLAIN_CSV)
            text = response.data.decode("utf-8")
        except ApiException as exc:
            raise StoreError(f"InfluxDB query failed ({exc.status}): {_reason(exc)}") from exc
        except Exception as exc:
            detail = f"InfluxDB at {self.settings.url} is unreachable: {_short(exc)}"
            self._set_health(Health.UNREACHABLE, detail)
            raise StoreError(detail) from exc
        if self.health == Health.UNREACHABLE:
            self._set_health(Health.OK)
        return text

    # -- maintenance and lifecycle ---------------------------------------------------------

    def enforce_retention(self, now_ms: int | None = None) -> int | None:
        """Delete points older than ``retention_days``; return the cut-off (None when keeping forever)."""
        return self.retention.enforce(self._clock_ms() if now_ms is None else now_ms)

    def ping(self) -> bool:
        """True when the server answers ``/ping``; updates the health either way."""
        try:
            alive = bool(self._client.ping())
        except Exception:
            alive = False
        if not alive:
            self._set_health(Health.UNREACHABLE, f"InfluxDB at {self.settings.url} does not answer /ping")
        elif self.health == Health.UNREACHABLE:
            self._set_health(Health.OK)
        return alive

    def _maintain(self) -> None:
        """Maintenance thread: notice an unreachable server coming back; delete what aged past retention."""
        next_retention = time.monotonic()
        while not self._stop.wait(self.settings.check_interval_s):
            try:
                if self.health == Health.UNREACHABLE and not self.ping():
                    continue
                if self.settings.retention_days and time.monotonic() >= next_retention:
                    self.enforce_retention()
                    next_retention = time.monotonic() + self.settings.retention_interval_s
            except StoreError as exc:
                log.warning("hot store retention not enforced this time: %s", exc)
            except Exception:  # never let the thread die silently
                log.exception("unexpected error in the InfluxDB maintenance thread")

    def close(self) -> None:
        """Stop the maintenance thread and close the client (nothing is pending: writes are stored on return)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._poster.shutdown()
        self._client.close()

    def _detect_v1(self) -> bool:
        try:
            version = self._client.version()
        except Exception as exc:
            detail = f"InfluxDB at {self.settings.url} is unreachable: {_short(exc)}"
            self._set_health(Health.UNREACHABLE, detail)
            self._client.close()
            raise StoreError(detail) from exc
        return version.startswith("1.") or version == "unknown"


def _batches(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    """``lines`` in lists of ``size`` (the last one shorter)."""
    it = iter(lines)
    while batch := list(islice(it, size)):
        yield batch


def _empty(start_ms: int | None, end_ms: int | None) -> bool:
    """True for a range that cannot hold anything (Flux refuses ``stop <= start``)."""
    return start_ms is not None and end_ms is not None and end_ms <= start_ms


def _reason(exc: ApiException) -> str:
    """The server's error message of an ApiException."""
    try:
        return json.loads(exc.body).get("message") or json.loads(exc.body).get("error") or str(exc.body)
    except (TypeError, ValueError, AttributeError):
        headers = getattr(exc, "headers", None) or {}
        return headers.get("X-Influxdb-Error") or str(exc.body or exc.reason)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "…"
