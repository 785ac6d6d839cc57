"""Planning a sweep's boolean queries, and reading a live blog's new entries."""

from __future__ import annotations

from backend.model import WatchItem
from backend.sources.guardian_sweep import blog_update, chunk_items, join_queries, plan_sweep, watermark_key

NOW = 1_738_594_800_000
MIN = 60_000


def test_queries_are_joined_with_or_and_parenthesised_when_they_have_operators():
    assert join_queries(["Apple", "Meta OR Facebook", '"JP Morgan"', "Apple"]) == \
        'Apple OR (Meta OR Facebook) OR "JP Morgan"'
    assert join_queries(['"General Motors"']) == '"General Motors"'
    assert join_queries(["Ford AND NOT Doug", "Tesla"]) == "(Ford AND NOT Doug) OR Tesla"


def test_a_long_watchlist_is_split_into_as_few_queries_as_fit():
    items = [WatchItem(f"S{i}", f"Company{i:03d}") for i in range(100)]  # 100 × ~14 characters
    groups = chunk_items(items, max_chars=500)
    assert [len(g) for g in groups] == [36, 36, 28]
    assert all(len(join_queries([i.query for i in g])) <= 500 for g in groups)
    assert [i for g in groups for i in g] == items


def test_new_items_are_caught_up_and_the_rest_share_one_floor():
    a, b, c = WatchItem("AAPL", "Apple"), WatchItem("AMZN", "Amazon"), WatchItem("F", "Ford", ("business",))
    marks = {watermark_key(a): NOW - 5 * MIN, watermark_key(b): NOW - 2 * MIN}
    plan = plan_sweep([a, b, c], marks, NOW, overlap_ms=30 * MIN, lookback_ms=2 * 86_400_000)
    assert [(q.q, q.sections, q.floor_ms, q.catch_up) for q in plan] == [
        ("Apple OR Amazon", (), NOW - 35 * MIN, False),
        ("Ford", ("business",), NOW - 2 * 86_400_000, True),  # only sectioned items: the filter is sent
    ]
    marks[watermark_key(c)] = NOW
    (one,) = plan_sweep([a, b, c], marks, NOW, 30 * MIN, 0)
    assert one.q == "Apple OR Amazon OR Ford" and one.sections == () and one.symbols == ("AAPL", "AMZN", "F")


def test_a_live_blog_update_is_its_newest_entries():
    item = {"type": "liveblog", "blocks": {"body": [
        {"title": "", "bodyTextSummary": "Opening remarks " * 40, "publishedDate": "2025-02-03T14:00:00Z"},
        {"title": "Boeing shares fall", "bodyTextSummary": "<p>Down 5%.</p>", "publishedDate": "2025-02-03T14:30:00Z"},
        "garbage",
    ]}}
    update = blog_update(item)
    assert update.latest == "Boeing shares fall" and update.entries == 2 and update.newest_ms == 1738593000000
    assert update.text.startswith("Boeing shares fall Down 5%.") and update.text.endswith("…")
    assert blog_update({"type": "article", "blocks": {"body": []}}) is None
    assert blog_update({"type": "liveblog"}) is None and blog_update({"type": "liveblog", "blocks": {"body": []}}) is None


def test_a_blog_is_sent_again_only_when_its_newest_entry_changes():
    """As the floor moves, older entries drop out of ``blocks``: that alone is no change."""
    from backend.sources.guardian import GuardianSource

    source = GuardianSource([WatchItem("BA", "Boeing")], "k")
    (query,) = source.plan()
    e1 = {"id": "b1", "title": "Boeing shares fall", "bodyTextSummary": "", "publishedDate": "2025-02-03T14:30:00Z"}
    e2 = {"id": "b2", "title": "Boeing says deliveries resume", "bodyTextSummary": "",
          "publishedDate": "2025-02-03T14:40:00Z"}

    def blog(*entries):
        return {"id": "business/live/x", "type": "liveblog", "sectionId": "business", "webTitle": "Business live",
                "webPublicationDate": entries[-1]["publishedDate"], "webUrl": "u", "blocks": {"body": list(entries)}}

    def sent(result):
        fresh, marks, _, _ = source.triage([result], query, 0)
        for article_id, fp, published in marks:
            source._seen[article_id] = (fp, published)
        return [a.summary for a in fresh]

    assert sent(blog(e1)) == ["Latest: Boeing shares fall"]
    assert sent(blog(e1)) == []
    assert sent(blog(e1, e2)) == ["Latest: Boeing says deliveries resume"]
    assert sent(blog(e2)) == []  # e1 fell behind the floor: nothing new
