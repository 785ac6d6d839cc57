"""Parsing the providers' wire formats from the recorded samples, and rejecting bad input with reasons."""

from __future__ import annotations

import json

from helpers import SHARED, sample_guardian_page

from backend.wire.guardian import article_to_result, encode_search_page, parse_search_page
from backend.wire.polygon import encode_frame, parse_frame


def test_sample_frames_parse_into_bars_and_statuses():
    lines = (SHARED / "polygon_ws_frames.jsonl").read_text().splitlines()
    parsed = [parse_frame(line) for line in lines]
    assert [s.status for p in parsed[:2] for s in p.statuses] == ["connected", "auth_success"]
    bars = [b for p in parsed for b in p.bars]
    assert len(bars) == 18 and not any(p.rejected for p in parsed)
    first = bars[0]
    assert (first.symbol, first.start_ms, first.end_ms, first.open, first.volume) == ("AAPL", 1738593060000,
                                                                                    1738593120000, 228.9, 135910)
    assert first.trades == round(135910 / 63)


def test_bars_round_trip_through_the_wire_format():
    bars = parse_frame((SHARED / "polygon_ws_frames.jsonl").read_text().splitlines()[3]).bars
    assert parse_frame(encode_frame(bars)).bars == bars


def test_bad_polygon_messages_are_rejected_with_reasons():
    frame = json.dumps([
        {"ev": "AM", "sym": "AAPL", "o": 1, "h": 2, "l": 0.5, "c": 1.5, "v": 10, "s": 1738593060, "e": 1738593120},
        {"ev": "AM", "sym": "AAPL", "o": "x", "h": 2, "l": 1, "c": 1, "v": 1, "s": 1738593060000, "e": 1738593120000},
        {"ev": "AM", "sym": "AAPL", "o": 3, "h": 2, "l": 1, "c": 1, "v": 1, "s": 1738593060000, "e": 1738593120000},
        {"ev": "XQ"}, 42,
    ])
    parsed = parse_frame(frame)
    assert not parsed.bars
    assert len(parsed.rejected) == 5
    assert "milliseconds" in parsed.rejected[0]
    assert "non-numeric" in parsed.rejected[1]
    assert "inconsistent" in parsed.rejected[2]
    assert parse_frame("not json").rejected[0].startswith("frame is not JSON")


def test_auth_failure_status_is_reported():
    parsed = parse_frame('[{"ev":"status","status":"auth_failed","message":"authentication failed"}]')
    assert parsed.statuses[0].status == "auth_failed"


def test_guardian_sample_page_parses_with_fields_and_query_tags():
    page = parse_search_page(sample_guardian_page(), symbols=frozenset({"AMZN"}), query="Amazon")
    assert not page.error and page.pages == 1 and len(page.articles) == 3
    tech = page.articles[0]
    assert tech.id == "technology/2025/feb/03/amazon-cloud-revenue-ai-spending"
    assert tech.published_ms == 1738593192000 and tech.section == "technology"
    assert tech.summary == "Cloud unit growth in focus ahead of results"
    assert tech.symbols == {"AMZN"} and tech.queries == {"Amazon"}


def test_guardian_errors_are_reported_not_raised():
    assert parse_search_page("{").error.startswith("body is not JSON")
    assert "status" in parse_search_page('{"response": {"status": "error", "message": "bad key"}}').error
    page = parse_search_page(encode_search_page([{"id": "x"}, {"webTitle": "y"}]))
    assert len(page.rejected) == 2 and not page.articles


def test_articles_round_trip_through_a_search_page():
    page = parse_search_page(sample_guardian_page())
    again = parse_search_page(encode_search_page([article_to_result(a) for a in page.articles]))
    assert [(a.id, a.published_ms, a.title, a.url, a.section) for a in again.articles] == \
           [(a.id, a.published_ms, a.title, a.url, a.section) for a in page.articles]
