"""Watchlist defaults: the news query for any ticker, from the names the press uses for its company.

A symbol's default Guardian query is its company's common names joined by ``OR`` — "Ford",
not "Ford Motor" (the Guardian ANDs the words, so most Ford stories would be missed) and
never the ticker. The names come from, in order:

1. the ticker's reference data (its legal name from Polygon/Massive, cached by
   :mod:`backend.sources.reference`), turned into the forms headlines use by
   :func:`press_names` ("Ford Motor Company" → "Ford"; "Meta Platforms, Inc. Class A Common
   Stock" → "Meta", "Facebook"; "NVIDIA Corporation" → "Nvidia");
2. the built-in table :data:`COMPANY_NAMES` (offline, before the first lookup);
3. the ticker itself.

There is no section filter by default: company stories are filed in us-news, media, games,
world… and the relevance matcher (:mod:`backend.signals.relevance`) tells the company from its
namesakes. A watch item whose query or sections differ from the default is an *override*
and is used as typed; an item saved with an earlier default (e.g. "Ford Motor" in
business/technology/money) counts as default.
"""

from __future__ import annotations

import re

from backend.model import WatchItem, validate_ticker

#: No section filter by default (kept as a name for callers that read it).
DEFAULT_SECTIONS: tuple[str, ...] = ()
#: The sections every default item had before issue 15; an item saved with them is still a default item.
LEGACY_SECTIONS: tuple[str, ...] = ("business", "technology", "money")

#: Ticker → the names the press uses, as a Guardian query (offline fallback for the reference data).
COMPANY_NAMES: dict[str, str] = {
    "AAPL": "Apple", "AMZN": "Amazon", "MSFT": "Microsoft", "GOOGL": "Alphabet OR Google",
    "GOOG": "Alphabet OR Google", "META": "Meta OR Facebook", "TSLA": "Tesla", "NVDA": "Nvidia",
    "NFLX": "Netflix", "BRK.B": "Berkshire Hathaway", "JPM": 'JPMorgan OR "JP Morgan"', "F": "Ford",
    "TGT": "Target", "DIS": "Disney", "INTC": "Intel", "AMD": "AMD", "BA": "Boeing",
    "WMT": "Walmart", "KO": "Coca-Cola", "XOM": "ExxonMobil OR Exxon", "ORCL": "Oracle", "IBM": "IBM",
}
#: Earlier built-in defaults, recognised as default items when found in saved settings.
LEGACY_QUERIES: dict[str, tuple[str, ...]] = {"F": ("Ford Motor",), "TGT": ("Target Corporation",),
                                              "JPM": ("JPMorgan",), "XOM": ("ExxonMobil",)}

DEFAULT_WATCHLIST: tuple[str, ...] = ("AAPL", "AMZN", "MSFT", "NVDA", "TSLA", "BRK.B")

#: Other names the press uses for a company (keyed by the cleaned legal name's short form).
PRESS_ALIASES: dict[str, tuple[str, ...]] = {
    "Alphabet": ("Google",), "Meta": ("Facebook",), "Walt Disney": ("Disney",),
    "JPMorgan Chase": ("JPMorgan", "JP Morgan"), "Exxon Mobil": ("ExxonMobil", "Exxon"),
    "Berkshire Hathaway": ("Berkshire Hathaway",), "Bank of America": ("Bank of America",),
    "Procter & Gamble": ("Procter & Gamble", "P&G"), "Johnson & Johnson": ("Johnson & Johnson", "J&J"),
    "Goldman Sachs Group": ("Goldman Sachs",), "International Business Machines": ("IBM",),
    "Advanced Micro Devices": ("AMD",),
}

# Words after the company's own name in a legal name: share classes, legal forms, listing notes.
_NOISE = re.compile(
    r"\b(?:Class [A-Z]\b.*|Common Stock\b.*|Ordinary Shares\b.*|American Depositary Shares?\b.*|ADSs?\b.*|"
    r"Depositary Shares?\b.*|Subordinate Voting\b.*|Units?\b.*|Warrants?\b.*)$|\(The\)|\(New\)|\bNew$", re.IGNORECASE)
_LEGAL = re.compile(
    r"[,\s]+(?:Inc\.?|Incorporated|Corp\.?|Corporation|Co\.?|Company|Ltd\.?|Limited|plc|PLC|L\.?P\.?|LLC|"
    r"N\.V\.|NV|S\.A\.|SA|AG|SE|Holdings?|Group|& Co\.?|and Company)$", re.IGNORECASE)
# Trailing words that describe the business rather than name it ("Ford Motor" → "Ford").
_DESCRIPTORS = frozenset("""Motor Motors Platforms Technologies Technology Systems Enterprises Industries International
Worldwide Global Communications Entertainment Pharmaceuticals Therapeutics Brands Networks Software Labs
Laboratories Solutions Services Resources Chase Wholesale""".split())
# First words that do not name a company on their own ("General Motors" stays whole).
_GENERIC_FIRST = frozenset("""General American United First National International Bank Home Advanced Texas Southern
Northern Western Eastern Public Universal Applied Digital Global New Royal Best Union Capital Delta Walt Eli""".split())


def clean_legal_name(legal: str) -> str:
    """``"Ford Motor Company"`` → ``"Ford Motor"``: no share class, legal form or leading "The"."""
    name = " ".join(legal.replace("\u2019", "'").split())
    previous = None
    while previous != name:
        previous = name
        name = _NOISE.sub("", name).strip(" ,.-")
        name = _LEGAL.sub("", name).strip(" ,.-")
    name = re.sub(r"^The\s+", "", name)
    name = re.sub(r"(?<=\w)\.com\b", "", name, flags=re.IGNORECASE)  # "Amazon.com" is "Amazon" in the news
    return " ".join(_press_case(w) for w in name.split())


def _press_case(word: str) -> str:
    """Shouted words as the press writes them (NVIDIA → Nvidia); short acronyms stay (IBM, AMD, AT&T)."""
    letters = re.sub(r"[^A-Za-z]", "", word)
    if len(letters) >= 5 and letters.isupper() and "&" not in word and "." not in word:
        return word[0] + word[1:].lower()
    return word


def press_names(legal: str) -> tuple[str, ...]:
    """The names headlines use for a company, most specific first; never empty for a non-empty name."""
    full = clean_legal_name(legal)
    if not full:
        return ()
    words = full.split()
    short = full
    while len(words) > 1 and words[-1] in _DESCRIPTORS and words[0] not in _GENERIC_FIRST:
        words = words[:-1]
        short = " ".join(words)
    names = [full, short] + list(PRESS_ALIASES.get(short, ())) + list(PRESS_ALIASES.get(full, ()))
    return tuple(dict.fromkeys(names))


def query_from_names(names: tuple[str, ...] | list[str]) -> str:
    """A Guardian query finding any of ``names``: the shortest forms only, multi-word ones quoted."""
    kept: list[str] = []
    for name in sorted(dict.fromkeys(names), key=lambda n: (len(n.split()), len(n))):
        if not any(re.search(rf"(?<!\w){re.escape(k)}(?!\w)", name) for k in kept):
            kept.append(name)
    order = {n: i for i, n in enumerate(names)}
    kept.sort(key=lambda n: order.get(n, 0))
    return " OR ".join(f'"{n}"' if " " in n else n for n in kept)


def _cache():
    from backend.sources.reference import shared_cache

    return shared_cache()


def reference_name(symbol: str) -> str | None:
    """The cached legal name of ``symbol`` (no network call), if a lookup found one."""
    try:
        return _cache().name(symbol)
    except OSError:
        return None


def default_query(symbol: str) -> str:
    """The query a symbol gets by default: its press names (reference data, else the table, else the ticker)."""
    legal = reference_name(symbol)
    if legal:
        names = press_names(legal)
        if names:
            return query_from_names(names)
    return COMPANY_NAMES.get(symbol, symbol)


def query_source(symbol: str) -> str:
    """Where the default query comes from, for the settings dialog."""
    legal = reference_name(symbol)
    if legal:
        return f"from the ticker's reference data ({legal})"
    if symbol in COMPANY_NAMES:
        return "from the built-in table (reference data not fetched yet)"
    return "the ticker itself (reference data not fetched yet)"


def default_watch_item(symbol: str) -> WatchItem:
    """The watch item a user gets when they add ``symbol`` without typing a query."""
    symbol = validate_ticker(symbol)
    return WatchItem(symbol, default_query(symbol), DEFAULT_SECTIONS)


def is_default(item: WatchItem) -> bool:
    """Whether ``item`` uses its symbol's default query (now or an earlier default) and no sections of its own."""
    if item.sections and set(item.sections) != set(LEGACY_SECTIONS):
        return False
    known = {default_query(item.symbol), COMPANY_NAMES.get(item.symbol, item.symbol), item.symbol,
             *LEGACY_QUERIES.get(item.symbol, ())}
    return item.query in known


def effective_item(item: WatchItem) -> WatchItem:
    """The item the news side uses: a default item gets the current default query and no sections."""
    if is_default(item):
        return WatchItem(item.symbol, default_query(item.symbol), ())
    return item


def query_note(symbol: str, query: str, sections: tuple[str, ...] = ()) -> str:
    """One line for the settings dialog: the news query a watch line will use, and why (no network call)."""
    try:
        item = WatchItem(validate_ticker(symbol), " ".join(query.split()), tuple(s for s in sections if s))
    except ValueError:
        return ""
    if not item.query or is_default(item):
        return (f"News query for {item.symbol}: {default_query(item.symbol)} — {query_source(item.symbol)}; "
                "every section, checked by the relevance matcher")
    where = f"sections {', '.join(item.sections)}" if item.sections else "every section"
    return f"News query for {item.symbol}: {item.query} — typed in the watchlist (an override); {where}"


def company_name(symbol: str) -> str:
    """A display name for a symbol (first alternative of its default query)."""
    return default_query(symbol).split(" OR ")[0].strip('"')
