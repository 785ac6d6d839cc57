"""The Guardian poller on httpx against a local /search server, through the real pipeline and store."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from backend.model import WatchItem
from backend.sources.base import SourceState
from backend.sources.guardian import GuardianSource
from backend.stores.sqlite import SqliteStore
from fakes.harness import RunningPipeline, fast_guardian_config, wait_until

SECTIONS = ("business", "money", "technology")
WATCH = [WatchItem("AMZN", "Amazon", SECTIONS), WatchItem("AAPL", "Apple", SECTIONS)]
T_START = 1738594800.0  # 2025-02-03 15:00 UTC: the fake "now" when a test starts


def clock_from(start: float):
    offset = time.time() - start
    return lambda: time.time() - offset


def fill_corpus(apis):
    c = apis.corpus
    c.add("technology/2025/feb/03/amazon-ai", "2025-02-03T14:33:12Z", "Amazon shares move on AI spending", "technology")
    c.add("business/2025/feb/03/apple-amazon-deal", "2025-02-03T12:00:00Z", "Apple and Amazon sign a cloud deal",
          "business")
    c.add("business/live/2025/feb/03/markets-live", "2025-02-03T14:31:40Z", "Markets live: Apple and Amazon slip",
          "business", type="liveblog")
    c.add("global-development/2024/dec/22/amazon-rainforest", "2025-02-02T05:00:36Z",
          "Photographs of an uncontacted Amazon community", "global-development")
    for i in range(7):
        c.add(f"technology/2025/feb/02/apple-story-{i}", f"2025-02-02T1{i}:00:00Z", f"Apple story {i}", "technology")


def articles(path) -> dict:
    store = SqliteStore(path)
    try:
        found = store.articles()
    finally:
        store.close()
    ids = [a.id for a in found]
    assert len(ids) == len(set(ids)), "an article is stored once"
    return {a.id: a for a in found}


def expected_ids(apis) -> set[str]:
    """Everything in the corpus about Apple or Amazon the company (the rainforest story is not)."""
    return {i["id"] for i in apis.corpus.items() if "rainforest" not in i["id"]}


def test_fault_matrix_no_crash_no_duplicate_no_missed_article(tmp_path, apis):
    fill_corpus(apis)
    apis.guardian_faults.add("429:1", "500", "timeout:1.0", "truncated", "cutoff", "malformed", "error_status",
                             "empty", "503", "429")
    source = GuardianSource(WATCH, "g-key", fast_guardian_config(apis.url, tmp_path, page_size=2),
                            clock=clock_from(T_START))
    states = []
    with RunningPipeline(tmp_path / "s.sqlite", WATCH, [source]) as run:
        def settled():
            states.append(source.status.state)
            return len(apis.guardian_faults) == 0 and set(articles(run.path)) == expected_ids(apis)
        wait_until(settled, timeout=20)
        # A live blog is republished (same id, newer time and title) and a new story appears.
        apis.corpus.republish("business/live/2025/feb/03/markets-live", "2025-02-03T15:00:05Z",
                              "Markets live: Apple and Amazon rebound")
        apis.corpus.add("technology/2025/feb/03/amazon-new", "2025-02-03T15:00:10Z", "Amazon unveils chips",
                        "technology")
        wait_until(lambda: "technology/2025/feb/03/amazon-new" in articles(run.path) and articles(run.path)[
            "business/live/2025/feb/03/markets-live"].title.endswith("rebound"), timeout=10)
        run.stop()
    stored = articles(tmp_path / "s.sqlite")
    assert set(stored) == expected_ids(apis)  # none missed; the matcher kept the rainforest story out
    assert "global-development/2024/dec/22/amazon-rainforest" not in stored
    assert stored["business/2025/feb/03/apple-amazon-deal"].symbols == {"AAPL", "AMZN"}
    assert stored["technology/2025/feb/03/amazon-ai"].symbols == {"AMZN"}
    assert SourceState.FAILED not in states and SourceState.BACKING_OFF in states
    after_429 = [r for r in apis.guardian_requests]
    first = after_429[0]["at"]
    assert after_429[1]["at"] - first >= 1.0, "Retry-After: 1 was honoured"
    for r in apis.guardian_requests:
        assert r["order-by"] == "newest" and int(r["page-size"]) <= 50 and r["show-fields"] == "trailText,thumbnail"
        assert r["q"] == "Amazon OR Apple" and "section" not in r and r["key_valid"]  # one query for both symbols
        assert r["show-blocks"].startswith("body:published-since:")
    assert any(r["page"] != "1" for r in apis.guardian_requests), "pages were followed"


def test_watermark_survives_a_restart(tmp_path, apis):
    fill_corpus(apis)
    cfg = fast_guardian_config(apis.url, tmp_path, min_interval_s=30)
    first = GuardianSource(WATCH, "g-key", cfg, clock=clock_from(T_START))
    with RunningPipeline(tmp_path / "s.sqlite", WATCH, [first]) as run:
        wait_until(lambda: set(articles(run.path)) == expected_ids(apis))
        run.stop()
    saved = json.loads((tmp_path / "guardian_state.json").read_text())
    # One sweep covers both symbols: both watermarks are its newest article (14:33:12).
    assert saved["watermarks"] == {"AMZN|Amazon|": 1738593192000, "AAPL|Apple|": 1738593192000}
    assert saved["budget"]["used"] == first.calls == 1
    before = len(apis.guardian_requests)
    apis.corpus.add("business/2025/feb/03/amazon-while-down", "2025-02-03T15:10:00Z", "Amazon news while we slept",
                    "business")
    second = GuardianSource(WATCH, "g-key", cfg, clock=clock_from(T_START + 1800))
    with RunningPipeline(tmp_path / "s.sqlite", WATCH, [second]) as run:
        wait_until(lambda: "business/2025/feb/03/amazon-while-down" in articles(run.path))
        run.stop()
    restarted = [r for r in apis.guardian_requests[before:]]
    # from-date comes from the saved watermark minus the 30-minute overlap (with a time: the API takes one)
    assert {r["from-date"] for r in restarted} == {"2025-02-03T14:03:12Z"}
    assert {r["from-date"] for r in apis.guardian_requests[:before]} == {"2025-02-01T15:00:00Z"}  # 2-day lookback
    assert set(articles(tmp_path / "s.sqlite")) == expected_ids(apis)
    assert json.loads((tmp_path / "guardian_state.json").read_text())["budget"]["used"] == 2  # counted across runs


@pytest.mark.parametrize("status", [401, 403])
def test_bad_key_pauses_polling_until_the_key_changes(tmp_path, apis, status, caplog):
    fill_corpus(apis)
    apis.guardian_reject_status = status
    key = ["bad-guardian-key"]
    source = GuardianSource(WATCH, lambda: key[0], fast_guardian_config(apis.url, tmp_path),
                            clock=clock_from(T_START))
    caplog.set_level(logging.DEBUG)
    with RunningPipeline(tmp_path / "s.sqlite", WATCH, [source]) as run:
        status_ = wait_until(lambda: source.status.state is SourceState.FAILED and source.status)
        time.sleep(0.5)  # 10 key checks; a retry storm would show as requests
        assert len(apis.guardian_requests) == 1
        assert f"HTTP {status}" in status_.detail and "Invalid authentication credentials" in status_.detail
        assert "until the key changes" in status_.detail
        key[0] = "g-key"
        wait_until(lambda: set(articles(run.path)) == expected_ids(apis))
        run.stop()
    assert "bad-guardian-key" not in caplog.text and "api-key=***" in caplog.text


def test_daily_budget_is_respected_and_shown(tmp_path, apis):
    fill_corpus(apis)
    source = GuardianSource(WATCH, "g-key", fast_guardian_config(apis.url, tmp_path, daily_budget=3, page_size=1),
                            clock=clock_from(T_START))
    with RunningPipeline(tmp_path / "s.sqlite", WATCH, [source]):
        wait_until(lambda: source.status.state is SourceState.BACKING_OFF and "used up" in source.status.detail)
        time.sleep(0.3)
        assert len(apis.guardian_requests) == 3
        assert source.status.extra["calls left today"] == 0 and source.status.extra["calls today"] == 3


def test_missing_key_is_a_clear_failed_state(tmp_path, apis):
    source = GuardianSource(WATCH, "", fast_guardian_config(apis.url, tmp_path))
    with RunningPipeline(tmp_path / "s.sqlite", WATCH, [source]):
        status = wait_until(lambda: source.status.state is SourceState.FAILED and source.status)
    assert "no Guardian API key" in status.detail and apis.guardian_requests == []


def test_one_sweep_covers_defaults_and_overrides_and_checks_override_sections_locally(tmp_path, apis):
    watch = [WatchItem("AMZN", "Amazon", ()), WatchItem("AAPL", "Apple", ()),
             WatchItem("TSLA", 'Tesla AND NOT "Nikola Tesla"', ("business",))]  # an override with a section
    c = apis.corpus
    c.add("business/2025/feb/03/tesla-sales", "2025-02-03T14:10:00Z", "Tesla sales slump in Europe", "business")
    c.add("technology/2025/feb/03/tesla-fsd", "2025-02-03T14:20:00Z", "Tesla robotaxi delayed again", "technology")
    c.add("us-news/2025/feb/03/amazon-union", "2025-02-03T14:30:00Z", "Amazon drivers vote to unionise", "us-news")
    c.add("games/2025/feb/03/apple-arcade", "2025-02-03T14:40:00Z", "Apple cuts Arcade games budget", "games")
    source = GuardianSource(watch, "g-key", fast_guardian_config(apis.url, tmp_path, min_interval_s=30),
                            clock=clock_from(T_START))
    with RunningPipeline(tmp_path / "s.sqlite", watch, [source]) as run:
        wait_until(lambda: len(articles(run.path)) == 3)
        run.stop()
    stored = articles(tmp_path / "s.sqlite")
    assert [r["q"] for r in apis.guardian_requests] == ['Amazon OR Apple OR (Tesla AND NOT "Nikola Tesla")']
    assert "section" not in apis.guardian_requests[0]  # the default items take every section
    assert stored["business/2025/feb/03/tesla-sales"].symbols == {"TSLA"}
    assert "technology/2025/feb/03/tesla-fsd" not in stored  # outside the override's own section
    assert stored["us-news/2025/feb/03/amazon-union"].symbols == {"AMZN"}
    assert stored["us-news/2025/feb/03/amazon-union"].queries == {"Amazon"}  # its item's query, not the sweep's
    assert stored["games/2025/feb/03/apple-arcade"].symbols == {"AAPL"}


def test_a_republished_live_blog_brings_its_new_entries_in_the_sweep_call(tmp_path, apis):
    watch = [WatchItem("AMZN", "Amazon", ()), WatchItem("NVDA", "Nvidia", ())]
    blog = "business/live/2025/feb/03/markets-live"
    apis.corpus.add(blog, "2025-02-03T14:50:00Z", "Markets live: FTSE slips as oil falls", "business",
                    "Stock markets in Europe are lower", type="liveblog",
                    blocks=[{"id": "b0", "title": "Opening", "bodyTextSummary": "Markets open lower in London.",
                             "publishedDate": "2025-02-03T14:50:00Z"}])
    source = GuardianSource(watch, "g-key", fast_guardian_config(apis.url, tmp_path, min_interval_s=0.2),
                            clock=clock_from(T_START))
    with RunningPipeline(tmp_path / "s.sqlite", watch, [source]) as run:
        wait_until(lambda: len(apis.guardian_requests) >= 2)
        assert blog not in articles(run.path)  # about neither company yet
        apis.corpus.add_entry(blog, "2025-02-03T15:00:01Z", "Nvidia shares tumble",
                              "Nvidia has lost 8% after a Chinese rival released a cheaper AI model.")
        calls = len(apis.guardian_requests)
        stored = wait_until(lambda: articles(run.path).get(blog))
        sent, calls_then = source.status.messages, len(apis.guardian_requests)
        wait_until(lambda: len(apis.guardian_requests) >= calls_then + 3)
        assert source.status.messages == sent  # unchanged since: not sent again as the floor moves
        run.stop()
    assert stored.symbols == {"NVDA"} and stored.summary == "Latest: Nvidia shares tumble"
    assert all(r["q"] == "Amazon OR Nvidia" for r in apis.guardian_requests[calls:])  # no call of its own
    assert all(r["show-blocks"].startswith("body:published-since:") for r in apis.guardian_requests)


def test_company_names_come_from_reference_data_and_are_cached(tmp_path, apis):
    """A ticker outside the built-in table gets its company's press name from /v3/reference/tickers."""
    from backend.sources.reference import NameCache, ReferenceLookup
    from backend.watchlist import default_watch_item

    apis.tickers["ACME"] = "Acme Rockets Holdings, Inc. Class A Common Stock"
    apis.corpus.add("business/2025/feb/03/acme-results", "2025-02-03T14:00:00Z", "Acme Rockets shares soar after launch",
                    "business")
    apis.corpus.add("film/2025/feb/03/acme", "2025-02-03T14:05:00Z", "Acme: the cartoon company that never was",
                    "film")
    watch = [default_watch_item("ACME")]
    assert watch[0].query == "ACME"  # not fetched yet: the ticker itself
    cache = NameCache(tmp_path / "home" / "ticker_names.json")
    lookup = ReferenceLookup(cache, lambda: "good-key", apis.url, clock=clock_from(T_START))
    source = GuardianSource(watch, "g-key", fast_guardian_config(apis.url, tmp_path, min_interval_s=0.05),
                            clock=clock_from(T_START), reference=lookup)
    with RunningPipeline(tmp_path / "s.sqlite", watch, [source]) as run:
        stored = wait_until(lambda: articles(run.path).get("business/2025/feb/03/acme-results"))
        wait_until(lambda: len(apis.guardian_requests) >= 3)
        run.stop()
    assert stored.symbols == {"ACME"}
    assert cache.name("ACME") == "Acme Rockets Holdings, Inc. Class A Common Stock"
    assert default_watch_item("ACME").query == '"Acme Rockets"'
    assert {r["q"] for r in apis.guardian_requests} == {'"Acme Rockets"'}  # looked up before the first sweep
    assert apis.reference_requests == ["ACME"]  # cached: not asked again every sweep
    assert "film/2025/feb/03/acme" not in articles(tmp_path / "s.sqlite")
    saved = json.loads((tmp_path / "home" / "ticker_names.json").read_text())
    assert saved["names"]["ACME"]["name"].startswith("Acme Rockets")


def test_reference_lookup_failures_retry_later_and_names_refresh_weekly(tmp_path, apis):
    import httpx

    from backend.sources.reference import REFRESH_S, UNKNOWN_RETRY_S, NameCache, ReferenceLookup

    apis.tickers["F"] = "Ford Motor Company"
    now = [T_START]
    key = ["wrong-key"]
    cache = NameCache(tmp_path / "names.json")
    lookup = ReferenceLookup(cache, lambda: key[0], apis.url, clock=lambda: now[0])

    def refresh(symbols):
        async def go():
            async with httpx.AsyncClient() as http:
                return await lookup.refresh(symbols, http)
        return asyncio.run(go())

    assert refresh(["F"]) == [] and cache.name("F") is None and lookup.pending(["F"]) == []  # waits after a 401
    now[0] += 61
    key[0] = "good-key"
    apis.reference_faults.add("malformed")
    assert refresh(["F"]) == [] and lookup.pending(["F"]) == []  # a malformed body: a longer wait (doubling)
    now[0] += 121
    assert refresh(["F", "NOPE"]) == ["F", ] and cache.name("F") == "Ford Motor Company"
    assert cache.name("NOPE") is None and lookup.pending(["F", "NOPE"]) == []
    now[0] += UNKNOWN_RETRY_S
    assert lookup.pending(["F", "NOPE"]) == ["NOPE"]  # an unknown ticker is asked about again a day later
    now[0] += REFRESH_S
    assert lookup.pending(["F"]) == ["F"]  # a week on, the name is refreshed
    assert apis.reference_requests == ["F", "F", "F", "NOPE"]
    assert NameCache(tmp_path / "names.json").name("F") == "Ford Motor Company"  # persisted
