"""Fixed latency buckets: percentiles that can be summed across rollups.

Raw latencies cannot be merged across rollup rows, but counts per fixed bucket
can; a percentile read from merged buckets is exact to the bucket's width. The
bounds roughly double, so relative error stays similar from 10 ms to a minute.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence

# Upper bounds in milliseconds; the last bucket is everything above.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    10,
    25,
    50,
    100,
    200,
    300,
    500,
    750,
    1000,
    1500,
    2000,
    3000,
    5000,
    7500,
    10000,
    15000,
    20000,
    30000,
    60000,
)
BUCKETS = len(LATENCY_BOUNDS_MS) + 1


def empty() -> list[int]:
    return [0] * BUCKETS


def bucket_index(value_ms: float) -> int:
    return bisect_left(LATENCY_BOUNDS_MS, value_ms)


def add(hist: list[int], value_ms: float) -> None:
    hist[bucket_index(value_ms)] += 1


def merge(hists: Iterable[Sequence[int]]) -> list[int]:
    total = empty()
    for hist in hists:
        for i, count in enumerate(hist[:BUCKETS]):
            total[i] += count
    return total


def percentile(hist: Sequence[int], q: float) -> float | None:
    """The q-quantile (0–1), interpolated linearly inside its bucket."""
    count = sum(hist)
    if not count:
        return None
    rank = q * count
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            low = LATENCY_BOUNDS_MS[i - 1] if i > 0 else 0.0
            high = LATENCY_BOUNDS_MS[i] if i < len(LATENCY_BOUNDS_MS) else low * 2
            return low + (high - low) * ((rank - seen) / n)
        seen += n
    return float(LATENCY_BOUNDS_MS[-1])
