"""The process's garbage-collector policy, set once by each entry point (the ``tickerwire`` command, the sink service).

The pipeline allocates tens of thousands of short-lived tuples per group it processes (bars, candle
values, candles). Under CPython's default young-generation threshold (700 net allocations) that is a
collection every few hundred bars, each promoting the group's still-live tuples into older
generations, whose collections then walk them again, and now and then the whole heap: 13% of the embedded
processor's time (``bench_ingest``: 130,388–132,175 bars/s at the default, 149,945–154,832 with this
threshold, in one run). With a young threshold of 50,000 a group's tuples are gone before a collection
looks at them. Cycles are still collected: cyclic garbage waits for at most 50,000 allocations (a few MB).
"""

from __future__ import annotations

import gc

#: Net container allocations between two young-generation collections (CPython's default: 700).
YOUNG_GENERATION_THRESHOLD = 50_000


def apply() -> None:
    """Set the policy for this process (older generations keep CPython's defaults)."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
