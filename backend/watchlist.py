"""Watchlist defaults: the Guardian query and sections that find a company's news, not its namesakes.

"Amazon" alone brings the rainforest; restricting to business/technology sections and
using the company's name (not the ticker) keeps precision high.
"""

from __future__ import annotations

from backend.model import WatchItem, validate_ticker

DEFAULT_SECTIONS: tuple[str, ...] = ("business", "technology", "money")

#: Ticker → the name the press uses (query text for the Guardian).
COMPANY_NAMES: dict[str, str] = {
    "AAPL": "Apple", "AMZN": "Amazon", "MSFT": "Microsoft", "GOOGL": "Alphabet OR Google",
    "GOOG": "Alphabet OR Google", "META": "Meta OR Facebook", "TSLA": "Tesla", "NVDA": "Nvidia",
    "NFLX": "Netflix", "BRK.B": "Berkshire Hathaway", "JPM": "JPMorgan", "F": "Ford Motor",
    "TGT": "Target Corporation", "DIS": "Disney", "INTC": "Intel", "AMD": "AMD", "BA": "Boeing",
    "WMT": "Walmart", "KO": "Coca-Cola", "XOM": "ExxonMobil", "ORCL": "Oracle", "IBM": "IBM",
}

DEFAULT_WATCHLIST: tuple[str, ...] = ("AAPL", "AMZN", "MSFT", "NVDA", "TSLA", "BRK.B")


def default_watch_item(symbol: str) -> WatchItem:
    """The watch item a user gets when they add ``symbol`` without typing a query."""
    symbol = validate_ticker(symbol)
    return WatchItem(symbol, COMPANY_NAMES.get(symbol, symbol), DEFAULT_SECTIONS)


def company_name(symbol: str) -> str:
    """A display name for a symbol (first alternative of its default query)."""
    return COMPANY_NAMES.get(symbol, symbol).split(" OR ")[0]
