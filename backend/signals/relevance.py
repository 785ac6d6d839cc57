"""Relevance: why an article matched a watched symbol, and whether it is about the company.

A Guardian query for a company's name ("Amazon", "Apple", "Meta OR Facebook", "Ford",
"Target") searches the whole article in every section, so it also returns the rainforest,
the fruit, meta-analyses, people named Ford and inflation targets. :func:`explain` decides
from the title and trail text, and says why:

1. **Section**: the article's section must be one of the item's sections (if it has any:
   default items have none since issue 15; sections typed in the settings are overrides).
2. **Company references**: the company's names, matched case-sensitively ("Apple", not
   "apple"), and unambiguous aliases (products, units, executives: "iPhone", "AWS",
   "Zuckerberg") — minus every span a **namesake pattern** explains ("Amazon rainforest",
   "the Amazon", "Harrison Ford", "Fiona Apple", "Big Apple", "meta-analysis", "posted on
   Facebook"). A capitalised first name before a name that is also a surname ("Tom
   Ford") marks a person. No company reference left → not about the company.
3. **Headline**: the company must be named in the title, or lead the trail on its own
   ("The iPhone maker's App Store…"); a mention further into the trail, in a list
   ("Apple, Microsoft, Nvidia and…") or as a founder's label ("Microsoft co-founder Bill
   Gates") is in passing — a rival's, supplier's or sector story; so is a mention as the
   yardstick ("… to take on Disney", "BYD sales surge past Tesla's"), as a source quoted
   on another subject ("JP Morgan analysts forecast…") or in an institution's name ("Gates
   Foundation"). Three or more names with commas in the title are one of many, unless an
   action is aimed at them all ("regulator sues JPMorgan, Bank of America and…"). A trail
   mention counts when the title names the company only by what it is ("… inquiry into tech
   giant's partnership") or names its unit (", owned by Disney,"); a trail naming it as a
   person's or a work's label ("The Tesla boss says…", "A Netflix drama…") does not. A review
   ("… review – …"), consumer advice ("How to…", "The best…") and others using the brand
   (:data:`BRAND_MISUSE`: scams, paintings) need a company-shaped mention; an executive quoted
   in the title on the economy, the company not named there, is a view, not its news.
4. **Context**: if namesake context words remain ("rainforest", "orchard", "inflation", or
   :data:`BRAND_MISUSE` words such as "scam" — others using the brand)
   and nothing supports the company reading — an alias, a company-shaped mention
   ("Amazon shares", "Ford said", "shares in Target") or a business word ("profit",
   "investors", "layoffs") — the article is about the namesake.
5. **Culture sections** (:data:`CULTURE_SECTIONS`: film, books, sport, food, travel…): the
   name alone is not enough there ("Snow White review – Disney's remake…"), nor is a brand
   alias ("… review – Marvel finally finds its feet"): a company-shaped mention or a business
   word is needed.

:data:`COMPANY_PROFILES` holds this knowledge for well-known companies. Another ticker using
its default query gets the press names of its company from the reference data
(:func:`backend.watchlist.press_names`), matched as proper nouns; any other query is matched
on its own terms in any case. Measured on the labeled sets in ``tests/data/relevance`` (see
its README).

For the GUI: ``explain(article, item)`` returns a :class:`Relevance` whose ``reason``
is one sentence for a tooltip and whose ``*_hits`` fields list the evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from backend.model import Article, WatchItem
from backend.watchlist import default_query, press_names, reference_name


@dataclass(frozen=True, slots=True)
class CompanyProfile:
    """What tells a company from its namesakes in a headline.

    Attributes:
        names: How the press names the company, matched case-sensitively as whole words
            (a trailing ``'s`` allowed).
        aliases: Unambiguous references: products, units, executives, former names (not founders
            who run other businesses: "Bezos" is also Blue Origin, "Musk" also SpaceX and X; not
            head-office towns: "Dearborn" is also a museum's, "Cupertino" a city council's).
        namesakes: Regular expressions whose matches are *not* the company.
        context: Words that suggest the namesake when nothing supports the company.
        surname: The name is also a surname or first name: a capitalised first name
            directly before it ("Harrison Ford", "Fiona Apple") marks a person.
    """

    names: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    namesakes: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    surname: bool = False


_RAINFOREST = ("rainforest", "forests?", "deforestation", "river", "basin", "jungle", "indigenous", "tribes?",
               "tribal", "Brazil(?:ian)?", "Peru(?:vian)?", "Colombian?", "Ecuador", "Bolivia", "Lula", "Bolsonaro",
               "cattle", "soy", "loggers?", "logging", "wildfires?", "fires", "burning", "drought", "biodiversity",
               "species", "Belém", "COP30", "carbon sink", "tipping point", "Yanomami", "Manaus", "uncontacted",
               "conservation", "land rights")

COMPANY_PROFILES: dict[str, CompanyProfile] = {
    "AMZN": CompanyProfile(
        names=("Amazon",),
        aliases=("AWS", "Amazon Web Services", "Andy Jassy", "Jassy", "Prime Video",
                 "Amazon Prime", "Alexa", "Kindle", "Whole Foods", "Zoox", "Project Kuiper", "Ring doorbell"),
        namesakes=(r"\bAmazon(?:'s)? (?:rainforest|forest|river|basin|region|deforestation|fires?|tribes?|jungle|"
                   r"biome|fund|summit|peoples?|communit(?:y|ies)|states?|delta|frontier)\b",
                   r"\b[Tt]he Amazon\b(?!'s? (?:warehouse|app|website|boss|founder|store|deal|workers|union)s?\b)",
                   r"\bAmazonia\b", r"\bAmazonian\b", r"\b(?:Brazilian|Peruvian|Colombian|Bolivian|Ecuadorian) Amazon\b",
                   r"\bAmazon (?:Conservation|Watch|Frontlines)\b"),
        context=_RAINFOREST,
    ),
    "AAPL": CompanyProfile(
        names=("Apple",),
        aliases=("iPhones?", "iPads?", "MacBooks?", "App Store", "Tim Cook", "Vision Pro", "Siri",
                 "iOS", "Apple Watch", "Apple Music", "Apple TV", "Apple Pay", "Apple Intelligence", "AirPods"),
        namesakes=(r"\bApple (?:growers?|orchards?|harvests?|crops?|farmers?|pies?|juice|trees?|varieties|"
                   r"blossom|cider|season|picking|pickers|prices at the farm)\b",
                   r"\bBig Apple\b", r"\bApple Daily\b", r"\bApple Martin\b", r"\bApple Records\b", r"\bApple Corps\b"),
        context=("fruit", "orchards?", "cider", "harvest", "growers?", "Bramley", "Braeburn", "Cox", "pies?",
                 "crumble", "juice", "blossom", "farmers?", "pickers", "Jimmy Lai", "Hong Kong newspaper"),
        surname=True,
    ),
    "META": CompanyProfile(
        names=("Meta", "Facebook"),
        aliases=("Instagram", "WhatsApp", "Mark Zuckerberg", "Zuckerberg", "Threads", "Oculus", "Llama",
                 "Meta Platforms", "Ray-Ban Meta", "Reality Labs", "Sheryl Sandberg", "Nick Clegg"),
        namesakes=(r"\b[Mm]eta-(?:analys[ie]s|review|study|data|narrative|textual|physical)\w*",
                   # the platform as a medium: somebody's post, appeal or ads on it
                   r"\b(?:Facebook|Instagram|WhatsApp) (?:post|page|group|comment|live|video|message|update|status|"
                   r"friend|appeal|story|reel|account)s?\b",
                   r"\b(?:posted|wrote|said|shared|announced|appealed) (?:it )?on (?:Facebook|Instagram)\b",
                   r"\b(?:spent|spend|spending|outspent) [^.,;:]*\bon (?:Facebook|Instagram) (?:ads|adverts)\b",
                   r"\bon Facebook Marketplace\b"),
        context=("analysis", "analyses", "researchers", "systematic review", "study", "studies", "trials",
                 "patients", "police appeal", "tribute", "obituary"),
    ),
    "F": CompanyProfile(
        names=("Ford", "Ford Motor"),
        aliases=("Ford Motor Company", "Jim Farley", "Bill Ford", "F-150", "Mustang", "Bronco", "Ford Transit",
                 "Ford Fiesta", "Ford Focus", "Ford Pro", "Model e", "Ford Credit"),
        namesakes=(r"\bFord Madox\b", r"\bFord Foundation\b", r"\bFord Prefect\b", r"\bFord Kiernan\b",
                   r"\bBetty Ford\b", r"\bFord Theatre\b", r"\bFord's Theatre\b", r"\bFord Fellowship\b",
                   r"\bHMP Ford\b", r"\bFord (?:open )?prison\b"),
        context=("actor", "film", "films", "star", "Indiana Jones", "Star Wars", "Blade Runner", "premier",
                 "Ontario", "president", "fashion", "designer", "perfume", "novel", "author", "novelist",
                 "Oscar", "Oscars", "director", "singer", "guitarist", "Conservatives", "Watergate", "Nixon",
                 "Hollywood", "memoir"),
        surname=True,
    ),
    "TGT": CompanyProfile(
        names=("Target", "Target Corporation"),
        aliases=("Target Corp", "Brian Cornell", "Michael Fiddelke", "Target stores", "Target Circle"),
        namesakes=(r"\bTarget (?:of|for|practice|date|rate|audience|zone|figure|range)\b",
                   # Target Australia: Wesfarmers' chain, not the US company
                   r"\bTarget\b(?=[^.\n]*\b(?:Wesfarmers|Kmart|Australian?)\b)"),
        context=("inflation", "emissions", "net zero", "interest rates?", "Bank of England", "Federal Reserve",
                 "the Fed", "goals?", "carbon", "climate", "missile", "drone", "strike", "military", "troops",
                 "hackers", "scammers", "fraudsters", "targeted", "targeting", "housebuilding", "deficit",
                 "fiscal rules?", "Reeves", "chancellor"),
    ),
    "MSFT": CompanyProfile(names=("Microsoft",),
                           aliases=("Satya Nadella", "Nadella", "Azure", "Xbox", "Windows", "Copilot", "LinkedIn",
                                    "Activision")),
    "GOOGL": CompanyProfile(names=("Alphabet", "Google"),
                            aliases=("Sundar Pichai", "Pichai", "YouTube", "Waymo", "DeepMind", "Gemini", "Android")),
    "GOOG": CompanyProfile(names=("Alphabet", "Google"),
                           aliases=("Sundar Pichai", "Pichai", "YouTube", "Waymo", "DeepMind", "Gemini", "Android")),
    "TSLA": CompanyProfile(names=("Tesla",), aliases=("Cybertruck", "Model Y", "Model 3",
                                                      "Gigafactory", "robotaxi"),
                           namesakes=(r"\bNikola Tesla\b", r"\bTesla coil\b"), context=("inventor", "physicist")),
    "NVDA": CompanyProfile(names=("Nvidia",), aliases=("Jensen Huang", "Huang", "GeForce", "Blackwell", "CUDA")),
    "NFLX": CompanyProfile(names=("Netflix",), aliases=("Ted Sarandos", "Reed Hastings")),
    "BRK.B": CompanyProfile(names=("Berkshire Hathaway", "Berkshire"),
                            aliases=("Warren Buffett", "Buffett", "Greg Abel", "Charlie Munger")),
    "JPM": CompanyProfile(names=("JPMorgan", "JP Morgan", "JPMorgan Chase"), aliases=("Jamie Dimon", "Dimon", "Chase"),
                          namesakes=(r"\bJ\.? ?P\.? Morgan and (?:his|him)\b", r"\bJ\.? ?Pierpont Morgan\b",
                                     r"\bMorgan Library\b",
                                     # Chase as a first name: "Chase Infiniti", not "Chase Bank"
                                     r"\bChase (?!Bank\b|Sapphire\b|Freedom\b|UK\b|Manhattan\b)[A-Z][a-z]+"),
                          context=("Gilded Age", "financier", "mansions?", "robber barons?", "19th-century",
                                   "exhibition")),
    "DIS": CompanyProfile(names=("Disney",), aliases=("Bob Iger", "Iger", r"Disney\+", "Pixar", "Marvel", "ESPN"),
                          namesakes=(r"\bWalt Disney\b(?! Co)",), context=("animator",)),
    "INTC": CompanyProfile(names=("Intel",), aliases=("Pat Gelsinger", "Lip-Bu Tan", "Xeon", "Core Ultra")),
    "AMD": CompanyProfile(names=("AMD",), aliases=("Lisa Su", "Ryzen", "Radeon", "Advanced Micro Devices")),
    "BA": CompanyProfile(names=("Boeing",), aliases=("737 Max", "Kelly Ortberg", "Starliner", "Dreamliner")),
    "WMT": CompanyProfile(names=("Walmart",), aliases=("Doug McMillon", "Sam's Club", "Asda")),
    "KO": CompanyProfile(names=("Coca-Cola", "Coke"), aliases=("James Quincey",),
                         # separately listed bottlers
                         namesakes=(r"\bCoca-Cola (?:HBC|Hellenic|Europacific(?: Partners)?|Amatil|Consolidated|"
                                    r"FEMSA|İçecek|Icecek)\b",)),
    "XOM": CompanyProfile(names=("ExxonMobil", "Exxon"), aliases=("Darren Woods",)),
    "ORCL": CompanyProfile(names=("Oracle",), aliases=("Larry Ellison", "Ellison", "Safra Catz"),
                           namesakes=(r"\bOracle of Omaha\b", r"\b[Tt]he oracle\b")),
    "IBM": CompanyProfile(names=("IBM",), aliases=("Arvind Krishna", "Red Hat", "Watson")),
}

#: Context for every company: stories where others use the brand (scams, art), not the company's own news.
#: Only a company-shaped mention outweighs it (a business word does not: "fake tech support scammers").
BRAND_MISUSE = ("scams?", "scammed", "scammers", "fraudsters", "pretending to be", "impersonat(?:ing|ors?|ion)",
                "phishing", "posing as", "tricked", "conned", "counterfeits?", "paintings?", "artworks?", "auctions?",
                "vandal(?:s|ism|ised|ized)?", "scratching", "sprayed with", "graffiti", "swastikas?", "set on fire",
                "set alight", "philanthrop(?:y|ist|ic)", "donat(?:es|ed|ion|ions)",
                "to fund")

#: Sections where a company's name is mostly culture (reviews, recipes, travel tips, sport, parenting):
#: there the name alone is not enough, the title or trail must also say something about the company.
CULTURE_SECTIONS = frozenset("""film books music culture artanddesign stage tv-and-radio lifeandstyle fashion food
travel sport football education science childrens-books-site theobserver games""".split())

#: Words that make a news item read as business news about a company.
BUSINESS_WORDS = (
    "shares?", "stocks?", "investors?", "shareholders?", "profits?", "revenues?", "sales", "earnings", "results",
    "quarter(?:ly)?", "chief executive", "CEO", "boss", "founder", r"\$\d[\d.,]*\s?(?:bn|m|billion|million|tn)?",
    r"£\d[\d.,]*\s?(?:bn|m|billion|million)?", r"€\d[\d.,]*\s?(?:bn|m|billion|million)?", r"\d+(?:\.\d+)?bn",
    "deal", "takeover", "merger", "acquisition", "valuation", "market value", "dividend", "layoffs", "job cuts",
    "jobs", "workers", "staff", "employees", "unions?", "regulators?", "antitrust", "competition watchdog",
    "watchdog", "fined?", "lawsuit", "sued", "tariffs?", "customers", "subscribers", "subscriptions?", "users", "launch(?:es|ed)?",
    "AI", "chips?", "cloud", "app", "platform", "retailer", "carmaker", "electric vehicles?", "EVs?", "recalls?",
    "factory", "plant", "Wall Street(?! Journal)", "Nasdaq", "S&P 500", "Dow", "forecast", "outlook", "guidance", "tech",
    "advertising", "ads", "streaming", "smartphones?", "stores", "shoppers", "prices", "price",
    "viewers", "most-watched", "box office", "stake", "unveil(?:s|ed)?",
)

#: After a company name, words that make the mention company-shaped ("Amazon shares", "Ford said").
_COMPANY_SHAPE_AFTER = (
    "shares", "stock", "chief", "boss", "founder", "executives?", "CEO", "results", "profits?", "revenue", "sales",
    "workers", "staff", "employees", "warehouses?", "stores?", "dealerships?", "showrooms?", "factory", "app",
    "platform", "deal", "said", "says", "announced", "announces", "reported", "reports", "unveiled", "unveils",
    "launched", "launches", "plans", "confirmed", "confirms", "agreed", "agrees", "denied", "denies", "sued",
    "fined", "hired", "hires", "acquires", "acquired", "cut", "cuts", "to", "will", "has", "is", "was", "beats?",
    "misses", "warns", "raises", "lowers",
    "recalls?", "invests?", "buys", "sells", "shoppers", "customers", "users", "investors", "market value",
    "valuation", "Inc", "Corp", "Corporation", "Co", "Platforms", "Motor",
    "bets", "signs", "strikes", "secures", "wins", "loses", "pushes", "expands", "enters", "faces", "pulls", "axes",
    "cancels", "renews", "orders", "delays",
)
_COMPANY_SHAPE_BEFORE = ("shares in", "stake in", "investors in", "rival", "rivals", "owner", "retailer", "carmaker",
                         "tech giant", "giant", "group", "company", "firm", "against", "v", "vs", "accuse",
                         "accuses", "accused", "sue", "sues", "suing", "fines", "probe into", "investigation into",
                         "owned by")

#: Capitalised words that are not first names (so "Why Ford…" or "Shares Apple…" is no person).
_NOT_FIRST_NAMES = frozenset("""
A An And As At But By For From How If In Inside Into Is It Its Of On Or Our So The Their This To Up Us We What When
Where Which Who Why Will With Would Can Could Does Did Has Have Had After Before Over Under Against Says Said New
Big Tech US UK EU Wall Street Rival Rivals Carmaker Retailer Shares Stocks Investors Analysts Boss Chief Detroit
General Motors GM Stellantis Toyota Honda Nissan Volkswagen Tesla Amazon Microsoft Google Meta Walmart Costco
Target Apple Samsung Like Including Versus Than Then Also Only Even Just Still Now Exclusive Analysis Opinion
Live Video Watch Review Comment Explainer Interview Profile Business Technology Money Markets Monday Tuesday
Wednesday Thursday Friday Saturday Sunday January February March April May June July August September October
November December Why How Ukraine China Chinese American British European Europe Germany German France French
Japan Japanese Mexico Canada Canadian India Indian Brazil Trump Biden Harris Musk
""".split())


@dataclass(frozen=True, slots=True)
class Relevance:
    """Why an article matched (or did not match) a watch item.

    Attributes:
        symbol: The watch item's ticker.
        query: The watch item's Guardian query.
        section: The article's section id.
        section_allowed: Whether the section is one of the item's sections (or it has none).
        query_hits: Query terms found in the title or trail (case-insensitive).
        company_hits: Spans read as the company (names and aliases).
        namesake_hits: Spans read as a namesake (and not as the company).
        context_hits: Words suggesting the namesake.
        support_hits: Evidence for the company reading: aliases, company-shaped mentions, business words.
        about_company: Whether the article is about the company (independent of the section).
        reason: One sentence saying why.
    """

    symbol: str
    query: str
    section: str
    section_allowed: bool
    query_hits: tuple[str, ...]
    company_hits: tuple[str, ...]
    namesake_hits: tuple[str, ...]
    context_hits: tuple[str, ...]
    support_hits: tuple[str, ...]
    about_company: bool
    reason: str

    @property
    def matched(self) -> bool:
        """Route the article to the symbol: the section is allowed and it is about the company."""
        return self.section_allowed and self.about_company


def route_article(article: Article, item: WatchItem) -> bool:
    """Whether the pipeline should attach ``article`` to ``item.symbol`` (see :func:`explain`)."""
    return explain(article, item).matched


def explain(article: Article, item: WatchItem) -> Relevance:
    """Decide and explain whether ``article`` (returned by ``item.query``) is about ``item.symbol``'s company."""
    text = f"{article.title}\n{article.summary}".translate(_PLAIN_QUOTES)  # "Netflix’s" reads as "Netflix's"
    rules = _rules_for(item.symbol, item.query)
    section_allowed = not item.sections or article.section in item.sections
    query_hits = tuple(t for t in _query_terms(item.query) if _find_ci(t, text))

    namesake_spans = [m.span() for rx in rules.namesakes for m in rx.finditer(text)]
    namesake_spans += [m.span() for m in rules.bystander.finditer(text)]  # "JP Morgan analysts forecast…"
    if rules.surname:
        namesake_spans += [m.span() for m in rules.person.finditer(text) if m.group(1) not in _NOT_FIRST_NAMES
                           and not (rules.aliases and rules.aliases.fullmatch(m.group(0)))]
    namesake_spans = _merge(namesake_spans)
    namesake_hits = tuple(text[a:b] for a, b in namesake_spans)

    def free(span: tuple[int, int]) -> bool:
        return not any(a < span[1] and span[0] < b for a, b in namesake_spans)

    alias_matches = [m for m in rules.aliases.finditer(text) if free(m.span())] if rules.aliases else []
    alias_hits = tuple(m.group(0) for m in alias_matches)
    name_matches = [m for m in rules.names.finditer(text) if free(m.span())]
    mentions = _merge([m.span() for m in name_matches + alias_matches])  # "Ford" inside "Ford Fiesta": one
    headline = [span for span in mentions if _in_headline(span, text, len(article.title))]
    shaped = tuple(m.group(0) for m in rules.shaped.finditer(text) if free(m.span()))
    business = tuple(dict.fromkeys(m.group(0) for m in rules.business.finditer(text)))
    context = tuple(dict.fromkeys(m.group(0) for m in rules.context.finditer(text)))
    misuse = tuple(dict.fromkeys(m.group(0) for m in _MISUSE.finditer(text)))
    company_hits = tuple(dict.fromkeys([m.group(0) for m in name_matches] + list(alias_hits)))
    support = tuple(dict.fromkeys(alias_hits + shaped + business))

    if not company_hits:
        if namesake_hits:
            about, why = False, f"only namesake uses in the title/trail ({', '.join(namesake_hits)})"
        else:
            about, why = False, "the company is not named in the title or trail (the query matched elsewhere)"
    elif not headline:
        about, why = False, (f"{', '.join(company_hits)} only in passing: not in the title, nor leading the trail "
                             "(a list, a rival's or supplier's story, a founder's other venture)")
    elif _pundit(headline, name_matches, text, len(article.title)):
        about, why = False, (f"{', '.join(company_hits)}: the boss's view on the economy or markets, the company "
                             "not named in the title")
    elif _REVIEW.search(article.title) and not shaped:
        about, why = False, f"{', '.join(company_hits)} in a review (of a work or product) with no company-shaped mention"
    elif _SERVICE.match(article.title) and not shaped:
        about, why = False, (f"{', '.join(company_hits)} in consumer advice (\"How to…\", \"The best…\") with no "
                             "company-shaped mention")
    elif misuse and not shaped:
        about, why = False, (f"{', '.join(company_hits)} with others using the brand ({', '.join(misuse)}) and no "
                             "company-shaped mention")
    elif context and not support:
        about, why = False, (f"{', '.join(company_hits)} with namesake context ({', '.join(context)}) "
                             "and nothing about the company")
    elif article.section in CULTURE_SECTIONS and not (shaped or business):
        about, why = False, (f"{', '.join(company_hits)} in a {article.section} story with nothing about the "
                             "company (no company-shaped mention or business word)")
    else:
        about = True
        why = f"names the company ({', '.join(company_hits)})"
        if support:
            why += f" with {', '.join(support[:4])}"
    reason = why if section_allowed else (f"section {article.section!r} is not one of "
                                          f"{', '.join(item.sections)}; {why}")
    return Relevance(item.symbol, item.query, article.section, section_allowed, query_hits, company_hits,
                     namesake_hits, context, support, about, reason)


# -- compiled rules -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rules:
    names: re.Pattern
    aliases: re.Pattern | None
    namesakes: tuple[re.Pattern, ...]
    context: re.Pattern
    shaped: re.Pattern
    business: re.Pattern
    person: re.Pattern
    bystander: re.Pattern
    surname: bool


def _alternation(words: tuple[str, ...] | list[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


def profile_for(symbol: str, query: str) -> tuple[CompanyProfile, bool]:
    """The profile used for ``symbol`` with ``query`` and whether its names are proper nouns (case-sensitive).

    A built-in profile wins; a symbol using its default query gets the press names of its
    company from the ticker's reference data ("Ford Motor Company" → "Ford Motor", "Ford");
    any other query is matched on its own terms, in any case.
    """
    if symbol in COMPANY_PROFILES:
        return COMPANY_PROFILES[symbol], True
    legal = reference_name(symbol)
    if legal and query == default_query(symbol):
        names = press_names(legal)
        if names:
            return CompanyProfile(names=names), True
    return CompanyProfile(names=tuple(_query_terms(query))), False


@lru_cache(maxsize=512)
def _rules_for(symbol: str, query: str) -> _Rules:
    profile, proper = profile_for(symbol, query)
    flags = 0 if proper else re.IGNORECASE
    names = _alternation([re.escape(n) for n in profile.names])
    word = r"(?<![\w-])(?:{})(?:'s)?(?![\w-])"
    return _Rules(
        names=re.compile(word.format(names), flags),
        aliases=re.compile(word.format(_alternation(list(profile.aliases)))) if profile.aliases else None,
        namesakes=tuple(re.compile(p) for p in profile.namesakes),
        context=re.compile(r"\b(?:{})\b".format(_alternation(list(profile.context + BRAND_MISUSE))),
                           re.IGNORECASE),
        shaped=re.compile(
            r"(?<![\w-])(?:{n})(?:'s)? (?:{after})\b|\b(?:{before}) (?:{n})\b".format(
                n=names, after=_alternation(list(_COMPANY_SHAPE_AFTER)),
                before=_alternation(list(_COMPANY_SHAPE_BEFORE))), flags),
        business=re.compile(r"(?<![\w-])(?:{})(?![\w-])".format(_alternation([_any_first_case(w)
                                                                              for w in BUSINESS_WORDS]))),
        person=re.compile(r"\b([A-Z][a-z]+(?:-[A-Z][a-z]+)?) (?:[A-Z]\.? )?(?:{n})\b".format(n=names)),
        bystander=re.compile(
            r"(?<![\w-])(?:{n})(?:'s)? (?:{q}|{scene})\b|\b(?:{q}) (?:at|from) (?:{n})(?![\w-])".format(
                n=names, q=_QUOTED_STAFF, scene=_SCENE), flags),
        surname=profile.surname,
    )


def _any_first_case(word: str) -> str:
    """A lower-case word pattern that also matches at the start of a sentence ("Subscribers lose…")."""
    return re.sub(r"^[a-z]", lambda m: f"[{m.group(0)}{m.group(0).upper()}]", word)


#: After an executive's name: speaking ("Jamie Dimon warns…"); with :data:`_MACRO`, a view, not the company's news.
_SPEAKS_AFTER = re.compile(r"\s+(?:says|warns|predicts|fears|thinks|believes|urges|calls for)\b")
_MACRO = re.compile(r"\b(?:recessions?|economy|economic|inflation|tariffs?|interest rates|stock market|"
                    r"correction|geopolitic\w*)\b", re.IGNORECASE)
#: Consumer advice addressed to the reader: the company's products or places as the setting, not its news.
_SERVICE = re.compile(r"(?:The )?[Bb]est (?=[a-z])|How to\b")  # not "Best Buy…"
_PLAIN_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'"})
_REVIEW = re.compile(r"\breview\s*[–—-]\s|\breview$")  # "Nintendo Switch 2 review – a bigger…"
_MISUSE = re.compile(r"\b(?:{})\b".format(_alternation(list(BRAND_MISUSE))), re.IGNORECASE)
#: Before a mention in the same clause: the company is the yardstick of someone else's story.
_COMPETITOR_BEFORE = re.compile(r"\b(?:beyond|take on|takes on|taking on|lead over|alternatives? to|rival to|past|"
                                r"overtakes?|overtaking|outsells?|outpaces?|beat|beats|beating|rivals|rivalling|"
                                r"compete with|competes with|competing with|catch up with|the gap on|the gap with|"
                                r"threat from|competition from|pressure from|closes in on|closing in on|lost to|"
                                r"losing to|to challenge|"
                                r"challenge to|challenger to)\b[^,.;:]*$")
#: After a mention: an institution named after a person or carrying the brand ("Gates Foundation").
_INSTITUTION_AFTER = re.compile(r"(?:'s)? (?:Foundation|Initiative|Institute|Museum|Library|Hospital|Prize|Award|"
                                r"Fellowship|Fund|Center|Centre|Trust|Biohub|(?:Corporate )?Challenge|Cup|Stadium|"
                                r"Arena|Classic)\b")
#: Commas between names in a title ("Coca-Cola, PepsiCo and Nestlé named worst polluters"): one of many.
#: ("Apple and Meta fined €700m" is joint news, and "After a bruising year, Tesla…" a clause: neither is one.)
_TITLE_LIST_AFTER = re.compile(r"(?:'s)?,\s*(?=[A-Z0-9]|[a-z]+[A-Z])")
_TITLE_LIST_BEFORE = re.compile(r"(?:^|\s)[A-Z][\w+&.-]*,\s*$")
#: Before a title list: an action aimed at every name in it ("US regulator sues JPMorgan, Bank of America and…").
_AIMED_AT = re.compile(r"\b(?:sues?|sued|suing|fines?|fined|accuses?|accused|charges|orders|against|probe into|"
                       r"investigation into|inquiry into)\b")
#: Another name follows ("Amazon and eBay", "Netflix, Disney+"), not a clause (", which…", "and is heading…").
_LIST_AFTER = re.compile(r"(?:'s)?\s*(?:,|&|and\b|or\b)\s*(?=[A-Z0-9]|[a-z]+[A-Z])")
_LIST_BEFORE = re.compile(r"(?:,|&|\band|\bor|such as|including)\s*$|^From\s+$")
#: Staff quoted as a source on another subject ("JP Morgan analysts forecast…"): not the company's news.
_QUOTED_STAFF = r"analysts?|economists?|strategists?|researchers"
#: After a name: the company's premises as the scene of somebody else's story ("… in Target parking lot").
_SCENE = r"parking lots?|car parks?"
#: Before a trail mention: the title's subject is the company's unit or holding ("ABC, owned by Disney").
_OWNER_BEFORE = re.compile(r"\b(?:owned by|owner|parent company|parent)\s*$")
#: A title naming the company only by what it is ("UK watchdog ends inquiry into tech giant's…"): the trail names it.
_DESCRIPTOR = re.compile(r"\b(?:(?:tech|retail|streaming|social media|drinks|chip|software|entertainment|media|"
                         r"banking) giant|carmaker|planemaker|chipmaker|retailer|streamer|iPhone maker|lender)(?:'s)?\b")
#: After a trail mention: the company as a person's label ("Microsoft co-founder Bill Gates", "The Tesla boss says
#: his new party…"): the story is the person's.
_PERSON_LABEL_AFTER = re.compile(r"(?:'s)?\s+(?:(?:co-)?founder|boss|chief executive)\b")
#: After a trail mention: the company as a work's label ("A Netflix drama has done more…"): the story is the work's.
_WORK_AFTER = re.compile(r"(?:'s)?\s+(?:drama|series|show|documentary|docuseries|film|thriller|comedy|animation)\b")
#: Before a mention: a person's past employer ("the former Microsoft engineer hiring…"), not the company's news.
_FORMER_BEFORE = re.compile(r"\bformer\s+$", re.IGNORECASE)
#: How far into the trail a mention still leads it ("The iPhone maker's App Store…", "Ford said on…").
LEADING_WORDS = 2


def _in_headline(span: tuple[int, int], text: str, title_length: int) -> bool:
    """A mention in the title, or leading a line of the trail on its own (not in a list, not "X co-founder
    Y"). A live blog's routed trail has a line per new entry, each led by its own headline."""
    start, end = span
    line_start = text.rfind("\n", 0, start) + 1
    before, after = text[line_start:start], text[end:]
    if _COMPETITOR_BEFORE.search(before) or _INSTITUTION_AFTER.match(after) or _FORMER_BEFORE.search(before):
        return False
    if start < title_length:
        in_title_list = _TITLE_LIST_AFTER.match(after) or _TITLE_LIST_BEFORE.search(before)
        return not in_title_list or bool(_AIMED_AT.search(before))
    if _OWNER_BEFORE.search(before):
        return True  # ", owned by Disney," — its unit is the story's subject
    in_list = _LIST_BEFORE.search(before) or _LIST_AFTER.match(after)
    if _DESCRIPTOR.search(text[:title_length]):
        return not in_list  # the trail names what the title describes ("Nvidia's chief executive, …")
    labelled = _PERSON_LABEL_AFTER.match(after) or _WORK_AFTER.match(after)
    return len(before.split()) < LEADING_WORDS and not in_list and not labelled


def _pundit(headline: list[tuple[int, int]], name_matches: list[re.Match], text: str, title_length: int) -> bool:
    """The title only quotes an executive on the economy ("Jamie Dimon says tariffs could cause recession"):
    every headline mention is an alias speaking in the title, the company's name is not in the title, and the
    subject is the economy or the markets."""
    if any(m.start() < title_length for m in name_matches) or not _MACRO.search(text):
        return False
    return all(start < title_length and _SPEAKS_AFTER.match(text, end) for start, end in headline)


def _query_terms(query: str) -> list[str]:
    """The alternatives of a Guardian query (``a OR b``), without quotes, brackets or operators."""
    parts = re.split(r"\s+OR\s+", query.strip())
    out = []
    for part in parts:
        term = re.sub(r"\b(?:AND|NOT)\b", " ", part.replace('"', " ").replace("(", " ").replace(")", " "))
        term = " ".join(term.split())
        if term:
            out.append(term)
    return out


def _find_ci(term: str, text: str) -> bool:
    return re.search(r"(?<!\w){}(?!\w)".format(re.escape(term)), text, re.IGNORECASE) is not None


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
