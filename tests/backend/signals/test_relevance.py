"""Relevance: precision and recall of news → symbol matching on the labeled set, and the explanations."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.model import Article, WatchItem
from backend.signals.relevance import explain, route_article
from backend.watchlist import default_watch_item
from backend.wire.guardian import parse_search_page

LABELED = Path(__file__).resolve().parents[2] / "data" / "relevance"
PRECISION_TARGET, RECALL_TARGET = 0.95, 0.80


@dataclass(frozen=True)
class Case:
    symbol: str
    article: Article
    about: bool
    note: str


def labeled_cases() -> list[Case]:
    """Every (item, symbol) pair: the symbol's page parsed as the pipeline parses it, with its label."""
    with open(LABELED / "labels.csv", encoding="utf-8") as f:
        labels = {(r["symbol"], r["id"]): r for r in csv.DictReader(f)}
    cases = []
    for page_file in sorted(LABELED.glob("*.json")):
        symbol = page_file.stem
        page = parse_search_page(page_file.read_text(encoding="utf-8"), query=default_watch_item(symbol).query)
        assert not page.error and not page.rejected, (page_file, page.error, page.rejected)
        for article in page.articles:
            label = labels.pop((symbol, article.id))
            cases.append(Case(symbol, article, label["about"] == "1", label["note"]))
    assert not labels, f"labels without an item: {sorted(labels)}"
    return cases


def score(cases: list[Case], decide) -> tuple[float, float, list[str]]:
    tp = fp = fn = 0
    mistakes = []
    for case in cases:
        predicted = decide(case.article, default_watch_item(case.symbol))
        tp += predicted and case.about
        fp += predicted and not case.about
        fn += case.about and not predicted
        if predicted != case.about:
            kind = "FP" if predicted else "FN"
            mistakes.append(f"{kind} {case.symbol:5} [{case.article.section}] {case.article.title} ({case.note})")
    return tp / (tp + fp), tp / (tp + fn), mistakes


def section_only(article: Article, item: WatchItem) -> bool:
    """The pipeline's matching before this module: the item's sections only."""
    return not item.sections or article.section in item.sections


def test_labeled_set_is_big_varied_and_in_the_real_format():
    cases = labeled_cases()
    assert len({c.article.id for c in cases}) >= 100 and len(cases) >= 100
    assert {"AMZN", "AAPL", "META", "F", "TGT"} <= {c.symbol for c in cases}
    positives = [c for c in cases if c.about]
    assert 0.35 <= len(positives) / len(cases) <= 0.65
    # Hard cases on both sides: namesakes inside the default sections, the company outside them.
    allowed = default_watch_item("AMZN").sections
    assert sum(1 for c in cases if not c.about and c.article.section in allowed) >= 25
    assert sum(1 for c in cases if c.about and c.article.section not in allowed) >= 5


def test_default_queries_and_sections_reach_the_precision_and_recall_targets():
    cases = labeled_cases()
    base_p, base_r, _ = score(cases, section_only)
    precision, recall, mistakes = score(cases, route_article)
    positives = sum(c.about for c in cases)
    print(f"\nlabeled set: {len(cases)} (item, symbol) pairs, {positives} about the company")
    print(f"sections only:           precision {base_p:.1%}  recall {base_r:.1%}")
    print(f"sections + relevance:    precision {precision:.1%}  recall {recall:.1%}")
    print("\n".join(mistakes))
    assert precision >= PRECISION_TARGET and recall >= RECALL_TARGET
    assert precision > base_p  # the relevance filter earns its place in the pipeline
