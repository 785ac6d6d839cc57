"""Gap backfill from the Polygon/Massive REST aggregates endpoint, on the official client.

``/v2/aggs/ticker/{sym}/range/1/minute/{from}/{to}`` answers a page of minute bars and,
when there are more, a ``next_url`` that ``RESTClient.list_aggs`` follows. The client is
synchronous (urllib3): call :func:`fetch_minutes` in a worker thread.

The client logs and swallows a page whose body is not JSON, ending the pages early — a
silent gap. :data:`STRICT_JSON` (passed as its ``custom_json``) turns that into an
exception, so a cut-off page fails the backfill loudly and it is retried instead.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

from backend.model import MINUTE_MS, Bar
from backend.sources.market_client import MarketClient
from backend.wire.polygon import bar_from_message

log = logging.getLogger(__name__)

#: Largest page the endpoint serves (``limit`` counts base aggregates; 50,000 is the maximum).
MAX_LIMIT = 50_000


class MalformedResponse(Exception):
    """A REST body that is not the JSON object the endpoint documents (deliberately not a ValueError)."""


def _strict_loads(text, *args, **kwargs):
    try:
        data = json.loads(text, *args, **kwargs)
    except (ValueError, RecursionError) as exc:
        raise MalformedResponse(f"response body is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedResponse(f"response body is a JSON {type(data).__name__}, expected an object")
    status = str(data.get("status", "OK")).upper()
    if status not in ("OK", "DELAYED"):
        raise MalformedResponse(f"response status {status}: {data.get('error') or data.get('message') or ''}")
    if "results" in data and not isinstance(data["results"], list):
        raise MalformedResponse("'results' is not a list")
    return data


#: A json-module look-alike for the client's ``custom_json`` parameter.
STRICT_JSON = SimpleNamespace(loads=_strict_loads, dumps=json.dumps)


def rest_client(client: MarketClient, api_key: str, base_url: str, timeout_s: float = 10.0, retries: int = 3):
    """The official ``RESTClient`` (of the loaded client package) for ``base_url`` with the key passed explicitly."""
    return client.RESTClient(api_key=api_key, base=base_url.rstrip("/"), connect_timeout=timeout_s,
                      read_timeout=timeout_s, retries=retries, pagination=True, custom_json=STRICT_JSON)


def fetch_minutes(client, symbol: str, from_ms: int, to_ms: int, limit: int = MAX_LIMIT) -> tuple[list[Bar], list[str]]:
    """Minute bars of ``symbol`` starting in ``[from_ms, to_ms]``, all pages; and rejection reasons.

    Raises whatever the client raises (``BadResponse``, urllib3 errors, :class:`MalformedResponse`):
    the caller retries the whole window, which is harmless because bars are upserts.
    """
    bars: list[Bar] = []
    rejected: list[str] = []
    for agg in client.list_aggs(symbol, 1, "minute", from_ms, to_ms, adjusted=True, sort="asc", limit=limit):
        bar, reason = bar_from_agg(symbol, agg)
        if bar is None:
            rejected.append(reason)
        else:
            bars.append(bar)
    return bars, rejected


def bar_from_agg(symbol: str, agg) -> tuple[Bar | None, str]:
    """An ``AM`` bar from a REST ``Agg`` (validated by the websocket parser's rules)."""
    t, v, n = agg.timestamp, agg.volume, agg.transactions
    msg = {"ev": "AM", "sym": symbol, "o": agg.open, "h": agg.high, "l": agg.low, "c": agg.close, "v": v,
           "vw": agg.vwap if agg.vwap is not None else agg.close, "s": t,
           "e": t + MINUTE_MS if isinstance(t, int) else t, "otc": bool(agg.otc)}
    try:
        if n and v is not None:
            msg["z"] = float(v) / float(n)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        pass
    if any(value is None for value in msg.values()):
        return None, f"{symbol}: REST aggregate lacks fields ({agg})"
    return bar_from_message(msg)
