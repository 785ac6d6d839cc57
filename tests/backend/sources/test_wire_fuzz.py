"""Property-based fuzzing of the two wire parsers and of the sources' own frame/page handling.

Any input either parses or is rejected with a reason; nothing raises. Inputs are random
text and bytes, random JSON, and — more to the point — near-valid messages whose fields
hold the wrong types, huge or non-finite numbers, odd dates and deep nesting.
"""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.model import WatchItem
from backend.sources.guardian import GuardianSource, _Transient, page_results
from backend.sources.polygon import PolygonSource
from backend.wire.guardian import parse_search_page
from backend.wire.polygon import parse_frame

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=10**300, max_value=10**320), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=20)

_AGG_KEYS = ("ev", "sym", "v", "av", "op", "vw", "o", "c", "h", "l", "a", "z", "s", "e", "otc", "status", "message")
agg_message = st.fixed_dictionaries({}, optional={
    k: (st.sampled_from(["AM", "A", "status", "T", 3]) if k == "ev" else json_value) for k in _AGG_KEYS})
plausible_agg = st.builds(
    lambda ev, sym, o, spread, v, s, extra: {"ev": ev, "sym": sym, "o": o, "h": o + spread, "l": max(0.01, o - spread),
                                             "c": o, "v": v, "vw": o, "s": s, "e": s + 60_000, **extra},
    st.sampled_from(["AM", "A"]), st.text(min_size=1, max_size=20), st.floats(min_value=-5, max_value=1e6),
    st.floats(min_value=0, max_value=100), st.one_of(st.floats(min_value=-10, max_value=1e9), st.integers()),
    st.one_of(st.integers(min_value=0, max_value=10**14), st.integers(), st.booleans()),
    st.dictionaries(st.sampled_from(_AGG_KEYS), json_value, max_size=3),
)
frame_text = st.one_of(
    st.text(max_size=200), st.binary(max_size=200).map(lambda b: b),
    st.lists(st.one_of(agg_message, plausible_agg, json_value), max_size=6).map(json.dumps),
    st.one_of(agg_message, plausible_agg).map(json.dumps),
    st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=1, max_value=5000).map(lambda n: "[" * n),
)

_RESULT_KEYS = ("id", "type", "sectionId", "webPublicationDate", "webTitle", "webUrl", "fields")
date_text = st.one_of(
    st.datetimes().map(lambda d: d.isoformat() + "Z"), st.datetimes().map(lambda d: d.isoformat() + "+14:00"),
    st.just("0001-01-01T00:00:00+01:00"), st.just("9999-12-31T23:59:59-05:00"), st.text(max_size=25),
)
guardian_result = st.fixed_dictionaries({}, optional={
    k: (date_text if k == "webPublicationDate" else
        st.dictionaries(st.sampled_from(["trailText", "thumbnail"]), json_value) if k == "fields" else
        st.one_of(st.text(max_size=30), json_value)) for k in _RESULT_KEYS})
guardian_page = st.builds(
    lambda status, results, cur, pages, extra: {"response": {"status": status, "results": results,
                                                             "currentPage": cur, "pages": pages, **extra}},
    st.sampled_from(["ok", "error", None]), st.one_of(st.lists(st.one_of(guardian_result, json_value), max_size=5),
                                                      json_value),
    json_scalar, json_scalar, st.dictionaries(st.sampled_from(["total", "message"]), json_value, max_size=2),
)
page_body = st.one_of(
    guardian_page.map(json.dumps), json_value.map(json.dumps), st.text(max_size=200), st.binary(max_size=200),
    guardian_page.map(lambda p: json.dumps(p)[: len(json.dumps(p)) // 2]),
    st.integers(min_value=1, max_value=5000).map(lambda n: '{"response":' + "[" * n + "]" * n + "}"),
)


@FUZZ
@given(frame_text)
def test_polygon_parser_parses_or_rejects_with_a_reason(frame):
    parsed = parse_frame(frame)
    assert parsed.bars or parsed.statuses or parsed.rejected or _empty_list(frame)
    assert all(isinstance(r, str) and r for r in parsed.rejected)
    for bar in parsed.bars:
        assert bar.low <= min(bar.open, bar.close) and bar.high >= max(bar.open, bar.close) and bar.volume >= 0
    try:
        data = json.loads(frame)
    except Exception:
        return
    if isinstance(data, list):  # every message is accounted for exactly once
        assert len(parsed.bars) + len(parsed.statuses) + len(parsed.rejected) == len(data)


def _empty_list(frame) -> bool:
    try:
        return json.loads(frame) == []
    except Exception:
        return False


@FUZZ
@given(page_body, st.frozensets(st.sampled_from(["AAPL", "AMZN"])))
def test_guardian_parser_parses_or_rejects_with_a_reason(body, symbols):
    page = parse_search_page(body, symbols, "Amazon")
    assert page.error or isinstance(page.articles, list)
    assert all(isinstance(r, str) and r for r in page.rejected)
    if not page.error:
        raw = json.loads(body)["response"]["results"]
        assert len(page.articles) + len(page.rejected) == len(raw)
        assert all(a.symbols == symbols and a.id and a.url for a in page.articles)


@FUZZ
@given(st.lists(frame_text, min_size=1, max_size=5))
def test_polygon_source_survives_any_frame(frames):
    """What the source itself does with a frame after handing it off (acks, minutes seen) never raises."""
    from backend.bus.memory import InProcessBus
    from backend.sources.polygon import _Frame

    source = PolygonSource([WatchItem("AAPL", "Apple")], "k")

    async def hand_off() -> int:
        source._bind_loop()
        bus = InProcessBus()
        for frame in frames:
            await source._publish_frame(bus, _Frame(frame))
        return bus.pending()

    published = asyncio.run(hand_off())
    assert source.status.messages >= 1 and published <= len(frames)


@FUZZ
@given(page_body)
def test_guardian_source_survives_any_body(body):
    """A body is either used (new results found) or refused as transient (backed off), never a crash."""
    source = GuardianSource([WatchItem("AMZN", "Amazon", ("technology",))], "k")
    try:
        results, current, pages = page_results(body)
    except _Transient as exc:
        assert "malformed response" in str(exc)
        return
    (query,) = source.plan()
    fresh, marks, newest, _ = source.triage(results, query, 0)
    assert len(fresh) == len(marks) <= len(results)
    assert len(fresh) + len(source.rejected) <= len(results)


def test_regressions_found_by_fuzzing_are_rejected_with_reasons():
    """Each of these raised out of the parsers before (RecursionError / OverflowError)."""
    deep = parse_frame("[" * 5000 + "]" * 5000)
    assert deep.rejected == ["frame is not usable JSON: nested too deeply"]
    huge = parse_frame('[{"ev":"AM","sym":"X","o":1' + "0" * 400 + ',"h":1,"l":1,"c":1,"v":1,"s":1738593060000,'
                       '"e":1738593120000}]')
    assert not huge.bars and "non-numeric" in huge.rejected[0]
    assert parse_search_page('{"response":' + "[" * 5000 + "]" * 5000 + "}").error.endswith("nested too deeply")
    inf_pages = parse_search_page('{"response":{"status":"ok","results":[],"currentPage":1e999}}')
    assert inf_pages.error == "paging fields are not numbers"
    year_one = parse_search_page(json.dumps({"response": {"status": "ok", "results": [
        {"id": "a", "webTitle": "t", "webUrl": "u", "webPublicationDate": "0001-01-01T00:00:00+01:00"}]}}))
    assert not year_one.articles and "bad webPublicationDate" in year_one.rejected[0]
