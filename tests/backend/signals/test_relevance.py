"""Relevance: precision and recall of news → symbol matching on the labeled set, and the explanations."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.model import Article, WatchItem
from backend.signals.relevance import explain, route_article
from backend.watchlist import LEGACY_SECTIONS, default_watch_item
from backend.wire.guardian import parse_search_page

LABELED = Path(__file__).resolve().parents[2] / "data" / "relevance"
WIDE = LABELED / "wide"  # tickers outside the first set and sections outside business/technology/money
PRECISION_TARGET, RECALL_TARGET = 0.95, 0.90


@dataclass(frozen=True)
class Case:
    symbol: str
    article: Article
    about: bool
    split: str  # "dev": written before/while the rules were; "heldout": written after they were frozen
    note: str


def labeled_cases(folder: Path = LABELED) -> list[Case]:
    """Every (item, symbol) pair: the symbol's page parsed as the pipeline parses it, with its label."""
    with open(folder / "labels.csv", encoding="utf-8") as f:
        labels = {(r["symbol"], r["id"]): r for r in csv.DictReader(f)}
    cases = []
    for page_file in sorted(folder.glob("*.json")):
        symbol = page_file.stem
        page = parse_search_page(page_file.read_text(encoding="utf-8"), query=default_watch_item(symbol).query)
        assert not page.error and not page.rejected, (page_file, page.error, page.rejected)
        for article in page.articles:
            label = labels.pop((symbol, article.id))
            cases.append(Case(symbol, article, label["about"] == "1", label["split"], label["note"]))
    assert not labels, f"labels without an item: {sorted(labels)}"
    return cases


def score(cases: list[Case], decide) -> tuple[float, float, list[str]]:
    tp = fp = fn = 0
    mistakes = []
    for case in cases:
        predicted = bool(decide(case.article, default_watch_item(case.symbol)))
        tp += predicted and case.about
        fp += predicted and not case.about
        fn += case.about and not predicted
        if predicted != case.about:
            kind = "FP" if predicted else "FN"
            mistakes.append(f"{kind} {case.symbol:5} [{case.article.section}] {case.article.title} ({case.note})")
    return (tp / (tp + fp) if tp + fp else 1.0), tp / (tp + fn), mistakes


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
    allowed = LEGACY_SECTIONS  # the sections every default item had before issue 15
    assert sum(1 for c in cases if not c.about and c.article.section in allowed) >= 25
    assert sum(1 for c in cases if c.about and c.article.section not in allowed) >= 5


def test_default_queries_and_sections_reach_the_precision_and_recall_targets():
    cases = labeled_cases()
    base_p, base_r, _ = score(cases, section_only)
    precision, recall, mistakes = score(cases, route_article)
    positives = sum(c.about for c in cases)
    print(f"\nlabeled set: {len(cases)} (item, symbol) pairs, {positives} about the company")
    print(f"sections only:                  precision {base_p:.1%}  recall {base_r:.1%}")
    print(f"sections + relevance:           precision {precision:.1%}  recall {recall:.1%}")
    for split in ("dev", "heldout"):
        part = [c for c in cases if c.split == split]
        p, r, _ = score(part, route_article)
        print(f"  {split:8} ({len(part):3} pairs):         precision {p:.1%}  recall {r:.1%}")
    print("\n".join(mistakes))
    assert precision >= PRECISION_TARGET and recall >= RECALL_TARGET
    assert precision > base_p  # the relevance filter earns its place in the pipeline


# -- explanations -------------------------------------------------------------------------------


def business(title: str, trail: str = "", section: str = "business") -> Article:
    return Article("business/2025/feb/03/x", 0, title, "https://www.theguardian.com/x", section, trail)


def test_explanation_names_the_evidence_for_the_company():
    r = explain(business("Amazon shares jump as cloud growth beats forecasts", "AWS sales rose 20%"),
                default_watch_item("AMZN"))
    assert r.matched and r.section_allowed and r.about_company
    assert r.query_hits == ("Amazon",) and r.company_hits == ("Amazon", "AWS")
    assert {"AWS", "Amazon shares", "shares"} <= set(r.support_hits)
    assert r.reason.startswith("names the company (Amazon, AWS) with ")


@pytest.mark.parametrize("symbol, title, namesake", [
    ("AMZN", "Banks financing Amazon deforestation, report finds", "Amazon deforestation"),
    ("F", "Tom Ford fashion house sold in $2.8bn deal", "Tom Ford"),
    ("AAPL", "Apple growers warn of shortage after wet summer", "Apple growers"),
    ("META", "Meta-analysis finds four-day week boosts productivity", "Meta-analysis"),
    ("META", "Bakery apologises after Facebook post mocking customers", "Facebook post"),
])
def test_explanation_names_the_namesake(symbol, title, namesake):
    r = explain(business(title), default_watch_item(symbol))
    assert not r.matched and not r.about_company and r.namesake_hits == (namesake,)
    assert r.reason == f"only namesake uses in the title/trail ({namesake})"


@pytest.mark.parametrize("symbol, title, about", [
    # a person's past employer, and the company as a rival's yardstick: in passing
    ("MSFT", "The former Microsoft engineer hiring neurodivergent coders", False),
    ("NVDA", "AMD unveils AI chips it claims can beat Nvidia's best", False),
    ("NVDA", "Nvidia beats forecasts as data centre sales double", True),
    # the platform as somebody's medium, a place named Ford, one car vandalised
    ("META", "Missing hiker found alive after Facebook appeal shared 40,000 times", False),
    ("META", "Reform UK outspent all other parties on Facebook ads in May elections", False),
    ("META", "Facebook to show ads in WhatsApp status updates", True),
    ("F", "Three inmates abscond from HMP Ford open prison in a week", False),
    ("TSLA", "Teenager charged after Tesla sprayed with swastika in car park", False),
    ("TSLA", "Tesla sales fall 40% in Europe as buyers turn to BYD", True),
    ("TSLA", "Man arrested after Tesla set on fire outside house", False),
    ("TSLA", "Tesla dealerships set on fire as protests against Musk spread", True),
    ("TGT", "ICE agents detain father in Target parking lot as children watch", False),
])
def test_mentions_that_are_someone_elses_story(symbol, title, about):
    assert explain(business(title, section="uk-news"), default_watch_item(symbol)).about_company is about


def test_a_trail_naming_the_company_as_a_persons_label_is_in_passing():
    item = default_watch_item("TSLA")
    party = business("Elon Musk launches 'America party' after falling out with Trump",
                     "The Tesla boss says his new party will challenge Republicans", section="politics")
    assert not explain(party, item).about_company
    robotaxi = business("Robotaxis to launch in Austin in June", "Tesla said the cars would carry paying riders")
    assert explain(robotaxi, item).about_company


@pytest.mark.parametrize("symbol, title, trail, section, about", [
    ("NFLX", "Netflix agrees $72bn deal to buy Warner Bros film studios", "Streamer beats Paramount in auction",
     "business", True),  # "agrees": company-shaped, so the auction is not others using the brand
    ("NFLX", "Adolescence has shown us what boys are learning online", "A Netflix drama has done more than a decade "
     "of campaigns", "commentisfree", False),  # the trail names the work, not the company
    ("NFLX", "BBC warns licence fee model is under threat from Netflix and YouTube", "", "media", False),
    ("AMZN", "Temu becomes UK's fastest-growing retailer", "Its sales double, closing the gap on Amazon and eBay",
     "business", False),  # a list goes on with "eBay" too
    ("NVDA", "World’s most valuable chipmaker unveils new processors", "Nvidia’s chief executive, Jensen Huang, "
     "told developers demand was soaring", "technology", True),  # typographic apostrophes
    ("JPM", "Jamie Dimon says tariffs will push up prices and could cause recession", "In his annual letter, the "
     "JPMorgan boss urges a quick end to trade disputes", "us-news", False),
    ("JPM", "Jamie Dimon says he will stay as JPMorgan boss for years", "", "business", True),
    ("JPM", "Jamie Dimon warns of more 'cockroaches' after $170m loan loss", "The bank's profit still rose",
     "business", True),
    # a title list of three or more is one of many, unless an action is aimed at all of them
    ("KO", "Coca-Cola, PepsiCo and Nestlé named world’s worst plastic polluters", "", "global-development", False),
    ("JPM", "US regulator sues JPMorgan, Bank of America and Wells Fargo over Zelle fraud", "", "business", True),
    ("META", "Apple and Meta fined €700m under EU digital rules", "", "technology", True),
    ("TSLA", "After a bruising year, Tesla bets on robotaxis", "", "business", True),
    # yardsticks, a sponsored event, consumer advice
    ("NVDA", "AMD unveils new AI chip to challenge Nvidia’s dominance", "", "technology", False),
    ("TSLA", "BYD closes in on Tesla as its EV sales hit a record", "", "business", False),
    ("NFLX", "BBC must team up with YouTube to reach young viewers lost to Netflix", "", "media", False),
    ("JPM", "Thousands take to Battersea Park for the JP Morgan Corporate Challenge", "", "sport", False),
    ("DIS", "How to do Disney World without spending a fortune", "", "money", False),
    ("TGT", "Best Buy and Target cut prices as shoppers hold back", "", "business", True),
    ("JPM", "Best easy-access savings accounts after JPMorgan cuts its rate", "", "money", True),
])
def test_whose_story_it_is_in_title_and_trail(symbol, title, trail, section, about):
    assert explain(business(title, trail, section), default_watch_item(symbol)).about_company is about


def test_namesake_context_without_company_support_is_the_namesake():
    r = explain(business("Amazon burning: satellites show record fires"), default_watch_item("AMZN"))
    assert r.company_hits == ("Amazon",) and r.context_hits == ("burning", "fires") and not r.support_hits
    assert not r.about_company and "namesake context (burning, fires)" in r.reason
    # The same context with company news around it is the company.
    r = explain(business("Amazon fined over fires at warehouse", "Regulator says staff were put at risk"),
                default_watch_item("AMZN"))
    assert r.about_company and "fined" in r.support_hits


def test_lower_case_common_words_and_unnamed_companies_do_not_match():
    r = explain(business("Bank of England holds rates as inflation stays above target"), default_watch_item("TGT"))
    # The Guardian matches "Target" in any case, so the query finds it; the matcher wants the company's name.
    assert not r.matched and r.company_hits == () and r.query_hits == ("Target",)
    assert r.reason == "the company is not named in the title or trail (the query matched elsewhere)"


def test_section_outside_the_items_sections_is_explained_and_not_routed():
    article = business("Amazon warehouse workers stage walkout over pay", section="uk-news")
    override = WatchItem("AMZN", "Amazon", LEGACY_SECTIONS)  # sections typed in the settings
    r = explain(article, override)
    assert r.about_company and not r.section_allowed and not r.matched and not route_article(article, override)
    assert r.reason.startswith("section 'uk-news' is not one of business, technology, money; names the company")
    assert default_watch_item("AMZN").sections == ()  # the default item takes every section
    assert explain(article, default_watch_item("AMZN")).matched


def test_a_symbol_without_a_profile_matches_its_query_terms_in_any_case():
    item = WatchItem("PLTR", "Palantir OR \"Alex Karp\"", ("business", "technology"))
    r = explain(business("palantir wins NHS data contract", "Alex Karp hails the deal"), item)
    assert r.matched and r.query_hits == ("Palantir", "Alex Karp") and r.company_hits == ("palantir", "Alex Karp")
    assert not explain(business("Pentagon software deal"), item).matched


# -- the wide set: any ticker, any section ----------------------------------------------------------

#: Before issue 15 a new user's items were "Ford Motor", "Target Corporation"… in business/technology/money.
OLD_DEFAULTS = {"F": "Ford Motor", "TGT": "Target Corporation", "DIS": "Disney", "BA": "Boeing", "KO": "Coca-Cola",
                "JPM": "JPMorgan", "GOOGL": "Alphabet OR Google", "META": "Meta OR Facebook"}


def returned_by(query: str, article: Article) -> bool:
    """Whether the Guardian would return the item for ``query`` judged on its title and trail (``a b`` = a AND b)."""
    text = f"{article.title} {article.summary}".lower()
    return any(all(w.lower() in text for w in alt.replace('"', " ").split()) for alt in query.split(" OR "))


def before_issue_15(article: Article, item: WatchItem) -> bool:
    old = WatchItem(item.symbol, OLD_DEFAULTS[item.symbol], LEGACY_SECTIONS)
    return returned_by(old.query, article) and route_article(article, old)


def test_wide_set_reaches_the_targets_per_split_and_reports_each_symbol():
    """Precision and recall on F, TGT, DIS, BA, KO, JPM, GOOGL, META in any section, with the default items."""
    cases = labeled_cases(WIDE)
    assert {"F", "TGT", "DIS", "BA", "KO", "JPM"} <= {c.symbol for c in cases}
    assert {"us-news", "media", "games", "world"} <= {c.article.section for c in cases if c.about}
    old_p, old_r, _ = score(cases, before_issue_15)
    print(f"\nwide set: {len(cases)} pairs, {sum(c.about for c in cases)} about the company")
    print(f"before issue 15 (old queries, sections): precision {old_p:.1%}  recall {old_r:.1%}")
    figures = {}
    for split in ("dev", "heldout", None):
        part = [c for c in cases if split is None or c.split == split]
        p, r, mistakes = score(part, route_article)
        figures[split] = (p, r)
        print(f"default items, {split or 'all':8} ({len(part):3} pairs): precision {p:.1%}  recall {r:.1%}")
        if split == "heldout":
            print("  " + "\n  ".join(mistakes))
    for symbol in sorted({c.symbol for c in cases}):
        p, r, _ = score([c for c in cases if c.symbol == symbol], route_article)
        print(f"  {symbol:6} precision {p:6.1%}  recall {r:6.1%}")
    assert old_r < 0.5  # the set shows what the old defaults missed
    precision, recall = figures[None]
    assert precision >= PRECISION_TARGET and recall >= RECALL_TARGET


# -- the blind sets: each written by a session that had not read or run the matcher ---------------------

#: (folder, precision the test requires): ``blind`` … ``blind6`` were each measured once held out (74.8 %,
#: 92.5 %, 92.5 %, 91.6 %, 93.9 %, 92.8 %), then the matcher was changed from their mistakes (dev now: the targets).
#: ``blind7`` and ``blind8`` were measured once with the same matcher (held out: 95.1 % and 93.8 %), then
#: tuned on too. ``blind9`` and ``blind10`` came after the last change and are never tuned on (held out:
#: 96.2 % and 98.0 %; 97.1 % pooled).
BLIND_SETS = (("blind", PRECISION_TARGET), ("blind2", PRECISION_TARGET), ("blind3", PRECISION_TARGET),
              ("blind4", PRECISION_TARGET), ("blind5", PRECISION_TARGET), ("blind6", PRECISION_TARGET),
              ("blind7", PRECISION_TARGET), ("blind8", PRECISION_TARGET),
              ("blind9", PRECISION_TARGET), ("blind10", PRECISION_TARGET))


@pytest.mark.parametrize("folder, precision_floor", BLIND_SETS)
def test_blind_sets_written_without_seeing_the_matcher(folder, precision_floor):
    """Precision and recall on sets labeled by sessions that never saw the matcher, per symbol and with every mistake."""
    cases = labeled_cases(LABELED / folder)
    assert len({c.symbol for c in cases}) >= 12 and {c.split for c in cases} == {"heldout"}
    precision, recall, mistakes = score(cases, route_article)
    print(f"\n{folder}: {len(cases)} pairs, {sum(c.about for c in cases)} about the company: "
          f"precision {precision:.1%}  recall {recall:.1%}")
    print("  " + "\n  ".join(mistakes))
    for symbol in sorted({c.symbol for c in cases}):
        p, r, _ = score([c for c in cases if c.symbol == symbol], route_article)
        print(f"  {symbol:6} precision {p:6.1%}  recall {r:6.1%}")
    assert precision >= precision_floor and recall >= RECALL_TARGET
