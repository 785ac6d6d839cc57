"""The bus's Kafka topics as plain data: names, partitions, retention and clean-up policy.

No Kafka client here (standard library only), so the stack can create the topics inside its
Kafka container and the app can name them without confluent-kafka. :mod:`backend.bus.kafka`
re-exports everything and turns a :class:`TopicSpec` into a topic on a broker.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES = "stock-prices"
NEWS = "news-articles"
CANDLES = "candles"
ARTICLES = "articles"
IMPACTS = "impacts"
DEAD_LETTERS = "dead-letters"

DAY_MS = 24 * 3_600_000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic and its settings."""

    name: str
    partitions: int = 3
    retention_ms: int = 7 * DAY_MS
    compact: bool = False

    @property
    def cleanup_policy(self) -> str:
        """Kafka's ``cleanup.policy``: compacted upsert logs keep deleting past retention too."""
        return "compact,delete" if self.compact else "delete"

    def config(self) -> dict[str, str]:
        """The topic-level configuration Kafka is given at creation."""
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


def default_topics(partitions: int = 3, retention_ms: int = 7 * DAY_MS) -> list[TopicSpec]:
    """The pipeline's topics: inputs, the candle, article and impact outputs (compacted upserts), dead letters.

    ``partitions`` applies to ``stock-prices`` (keyed by symbol, so a symbol's bars stay in order).
    ``candles`` has one partition: its key is ``symbol|timeframe|start_ms``, so with several a symbol's
    minutes would be scattered over partitions and a consumer could see 10:05 before 10:01 (the impact
    job would judge a window complete too early); one partition carries well over 100,000 candles/s.
    """
    return [
        TopicSpec(PRICES, partitions, retention_ms),
        TopicSpec(NEWS, 1, retention_ms),
        TopicSpec(CANDLES, 1, retention_ms, compact=True),
        TopicSpec(ARTICLES, 1, retention_ms, compact=True),
        TopicSpec(IMPACTS, 1, retention_ms, compact=True),
        TopicSpec(DEAD_LETTERS, 1, 30 * DAY_MS),
    ]
