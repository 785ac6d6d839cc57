"""One declarative settings schema: type, default, bounds and description per option.

Settings live in ``$TICKERWIRE_HOME/settings.json`` (secrets never: they go to the OS
keyring, see :mod:`backend.secrets`). Unknown keys raise; every change is validated
with a message a user can act on, and listeners hear about it through ``on_change``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from backend.model import WatchItem, validate_ticker
from backend.signals.alerts import DEFAULT_MAX_AGE_MS, DEFAULT_RULES, AlertRuleError, rules_from_settings
from backend.watchlist import DEFAULT_WATCHLIST, default_watch_item

log = logging.getLogger(__name__)

MAX_WATCHLIST = 100
MAX_QUERY_LEN = 200
MAX_SECTIONS = 10
MAX_INDICATORS = 8
#: ``<kind>:<period>[:<band width>]`` — app.chart.indicators computes them (kinds sma, ema, bb, rsi; period 2-500).
_INDICATOR_RE = re.compile(r"^(sma|ema|bb|rsi):([2-9]|[1-9]\d|[1-4]\d\d|500)(:\d(\.\d{1,2})?)?$")


class SettingsError(ValueError):
    """A setting was given a value it cannot take; the message says why."""


#: How a change of an option takes effect (every option says which; the settings dialog and the controller rely on it).
APPLIES = {
    "pipeline": "applied to the running pipeline at once",
    "rebuild": "the running pipeline is rebuilt with it (its sources and stores are made from it)",
    "window": "applied by the window at once",
    "switch": "changed by switching the pipeline (Stack tab)",
}


@dataclass(frozen=True, slots=True)
class Option:
    name: str
    kind: type
    default: Any
    description: str
    applies: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        if self.applies not in APPLIES:
            raise ValueError(f"setting {self.name}: applies must be one of {', '.join(APPLIES)}")


SCHEMA: dict[str, Option] = {o.name: o for o in (
    Option("watchlist", list, None, "Symbols to watch, each with its Guardian query and sections.",
           applies="pipeline"),
    Option("mode", str, "embedded", "Pipeline: embedded (in-process) or stack (Kafka/Flink/InfluxDB).",
           choices=("embedded", "stack"), applies="switch"),
    Option("feed", str, "delayed", "Polygon/Massive feed: delayed or real-time.", choices=("delayed", "realtime"),
           applies="rebuild"),
    Option("subscriptions", str, "AM", "Aggregates to subscribe: AM (minute), A (second) or both.",
           choices=("AM", "A", "AM,A"), applies="rebuild"),
    Option("timezone", str, "exchange", "Chart time: exchange (New York) or local.", choices=("exchange", "local"),
           applies="window"),
    Option("timeframe", str, "1m", "Chart timeframe.", choices=("1m", "5m", "15m", "1h", "1d"), applies="window"),
    Option("demo_speed", float, 1.0, "Demo feed speed (× real time).", minimum=0.1, maximum=10_000,
           applies="rebuild"),
    Option("demo_seed", int, 7, "Seed of the synthetic demo market.", minimum=0, maximum=2**31 - 1,
           applies="rebuild"),
    Option("demo_history_days", int, 3, "Trading days of history the demo generates.", minimum=0, maximum=30,
           applies="rebuild"),
    Option("allowed_lateness_s", int, 900, "How late a bar may arrive and still be aggregated in memory.",
           minimum=0, maximum=86_400, applies="rebuild"),
    Option("hot_retention_days", int, 30, "Days of candles the hot store keeps.", minimum=1, maximum=3650,
           applies="rebuild"),
    Option("polygon_ws_url", str, "", "Polygon/Massive websocket URL (empty = the provider's default).",
           applies="rebuild"),
    Option("polygon_rest_url", str, "", "Polygon/Massive REST URL (empty = the provider's default).",
           applies="rebuild"),
    Option("guardian_url", str, "https://content.guardianapis.com", "Guardian Open Platform base URL.",
           applies="rebuild"),
    Option("guardian_calls_per_day", int, 500,
           "Guardian API calls per UTC day (500 for a developer key; commercial keys have their own limit). "
           "TICKERWIRE_GUARDIAN_CALLS_PER_DAY overrides it.", minimum=1, maximum=10_000_000, applies="rebuild"),
    Option("alerts_enabled", bool, True, "Show alerts as desktop notifications (the alert log always records them).",
           applies="window"),
    Option("alert_rules", list, None, "Alert rules: {kind, threshold, minutes, cooldown_s, symbols} each.",
           applies="pipeline"),
    Option("alert_max_age_s", int, DEFAULT_MAX_AGE_MS // 1000,
           "An event older than this behind the newest one seen raises no alert (seconds).",
           minimum=0, maximum=86_400, applies="pipeline"),
    Option("chart_symbol", str, "", "Workspace: the symbol the chart showed last (restored if still watched).",
           applies="window"),
    Option("indicators", list, None, "Workspace: chart indicators, e.g. ema:20, sma:50, bb:20:2, rsi:14.",
           applies="window"),
    Option("remote_profiles", list, None,
           "Stacks the app did not start (a team's server, managed Kafka): where each service is and how to log "
           "in, without secrets (those go to the OS keyring). See backend/remote_stack.py.", applies="switch"),
    Option("stack_profile", str, "", "The stack the Stack tab uses: '' for this machine's, else a remote profile's "
           "name.", applies="switch"),
)}


def _check(option: Option, value: Any) -> Any:
    if option.name == "watchlist":
        return validate_watchlist(value)
    if option.name == "indicators":
        return validate_indicators(value)
    if option.name == "remote_profiles":
        from backend.remote_stack import ProfileError, validate_profiles  # it imports the settings' home

        try:
            return validate_profiles(value)
        except ProfileError as exc:
            raise SettingsError(str(exc)) from None
    if option.name == "alert_rules":
        try:
            return [rule.to_dict() for rule in rules_from_settings(value)]
        except AlertRuleError as exc:
            raise SettingsError(str(exc)) from None
    if option.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, option.kind) or isinstance(value, bool) and option.kind is not bool:
        raise SettingsError(f"{option.name} must be a {option.kind.__name__}, not {type(value).__name__}")
    if option.choices and value not in option.choices:
        raise SettingsError(f"{option.name} must be one of {', '.join(map(str, option.choices))}, not {value!r}")
    if option.minimum is not None and value < option.minimum:
        raise SettingsError(f"{option.name} must be at least {option.minimum}, not {value}")
    if option.maximum is not None and value > option.maximum:
        raise SettingsError(f"{option.name} must be at most {option.maximum}, not {value}")
    if option.kind is str and len(value) > 2000:
        raise SettingsError(f"{option.name} is too long ({len(value)} characters)")
    return value


def validate_watchlist(items: Any) -> list[WatchItem]:
    """Check a watchlist (WatchItems or their dict form); raise SettingsError naming the bad line."""
    if not isinstance(items, (list, tuple)):
        raise SettingsError("watchlist must be a list")
    if not items:
        raise SettingsError("the watchlist is empty: add at least one symbol")
    if len(items) > MAX_WATCHLIST:
        raise SettingsError(f"the watchlist has {len(items)} symbols; at most {MAX_WATCHLIST} are allowed")
    out: list[WatchItem] = []
    seen: set[str] = set()
    for n, raw in enumerate(items, 1):
        if isinstance(raw, dict):
            raw = WatchItem(str(raw.get("symbol", "")), str(raw.get("query", "")),
                            tuple(raw.get("sections", ()) or ()))
        if not isinstance(raw, WatchItem):
            raise SettingsError(f"line {n}: not a watch item")
        try:
            symbol = validate_ticker(raw.symbol)
        except ValueError as exc:
            raise SettingsError(f"line {n}: {exc}") from None
        if symbol in seen:
            raise SettingsError(f"line {n}: {symbol} is already in the watchlist")
        seen.add(symbol)
        query = " ".join(raw.query.split()) or default_watch_item(symbol).query
        if len(query) > MAX_QUERY_LEN:
            raise SettingsError(f"line {n}: the news query for {symbol} is longer than {MAX_QUERY_LEN} characters")
        sections = tuple(dict.fromkeys(s.strip().lower() for s in raw.sections if s.strip()))
        if len(sections) > MAX_SECTIONS:
            raise SettingsError(f"line {n}: at most {MAX_SECTIONS} sections")
        for s in sections:
            if not s.replace("-", "").isalnum() or len(s) > 40:
                raise SettingsError(f"line {n}: {s!r} is not a Guardian section id (e.g. business, technology)")
        out.append(WatchItem(symbol, query, sections))
    return out


def validate_indicators(value: Any) -> list[str]:
    """Check the ``indicators`` setting: a short list of ``kind:period`` strings, normalised to lower case."""
    if not isinstance(value, (list, tuple)):
        raise SettingsError("indicators must be a list such as ['ema:20', 'rsi:14']")
    if len(value) > MAX_INDICATORS:
        raise SettingsError(f"at most {MAX_INDICATORS} indicators")
    out: list[str] = []
    for n, item in enumerate(value, 1):
        text = item.strip().lower() if isinstance(item, str) else ""
        if not _INDICATOR_RE.match(text):
            raise SettingsError(f"indicator {n}: {item!r} is not <kind>:<period> (sma, ema, bb or rsi; period 2-500; "
                                "e.g. ema:20 or bb:20:2)")
        if text not in out:
            out.append(text)
    return out


def tickerwire_home() -> Path:
    """Data and settings directory: ``$TICKERWIRE_HOME`` or ``~/.local/share/tickerwire``."""
    env = os.environ.get("TICKERWIRE_HOME")
    base = Path(env) if env else Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "tickerwire"
    base.mkdir(parents=True, exist_ok=True)
    return base


class Settings:
    """Validated settings backed by a JSON file; writes are atomic (temp file + rename)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or tickerwire_home() / "settings.json"
        self._values: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self.load_problems: list[str] = []
        self._load()

    def _load(self) -> None:
        raw: dict = {}
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(raw, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                self.load_problems.append(f"{self.path} could not be read ({exc}); defaults used")
                raw = {}
        for name, value in raw.items():
            option = SCHEMA.get(name)
            if option is None:
                self.load_problems.append(f"unknown setting {name!r} ignored")
                continue
            try:
                self._values[name] = _check(option, value)
            except SettingsError as exc:
                self.load_problems.append(f"{exc}; default used")
        for problem in self.load_problems:
            log.warning("settings: %s", problem)

    def get(self, name: str) -> Any:
        option = self._option(name)
        if name in self._values:
            return self._values[name]
        if name == "watchlist":
            return [default_watch_item(s) for s in DEFAULT_WATCHLIST]
        if name == "alert_rules":
            return [rule.to_dict() for rule in DEFAULT_RULES]
        if name in ("indicators", "remote_profiles"):
            return []
        return option.default

    @property
    def watchlist(self) -> list[WatchItem]:
        return self.get("watchlist")

    def set(self, name: str, value: Any) -> None:
        """Validate, store, persist and notify; raise SettingsError and change nothing if invalid."""
        self.update({name: value})

    def update(self, changes: dict[str, Any]) -> None:
        """Apply several changes atomically: all valid, or none applied."""
        checked = {name: _check(self._option(name), value) for name, value in changes.items()}
        changed = {k: v for k, v in checked.items() if self.get(k) != v}
        if not changed:
            return
        self._values.update(changed)
        self.save()
        for name, value in changed.items():
            for listener in list(self._listeners):
                listener(name, value)

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._listeners.append(listener)

    def save(self) -> None:
        data = {}
        for name, value in self._values.items():
            if name == "watchlist":
                value = [{"symbol": w.symbol, "query": w.query, "sections": list(w.sections)} for w in value]
            data[name] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    @staticmethod
    def _option(name: str) -> Option:
        try:
            return SCHEMA[name]
        except KeyError:
            raise SettingsError(f"unknown setting {name!r}") from None
