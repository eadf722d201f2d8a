"""Exports of cost data: rows for CSV, read from rollups."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from costs.selectors import UsageFilter, rollups_in

HEADER = (
    "bucket_start_utc",
    "granularity",
    "agent",
    "model",
    "provider",
    "calls",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "unpriced_calls",
)
_COLUMNS = (
    "bucket_start",
    "granularity",
    "agent_name",
    "model",
    "provider",
    "calls",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost",
    "unpriced_calls",
)


def usage_csv_rows(
    *, start: datetime, end: datetime, filters: UsageFilter | None = None
) -> Iterator[tuple[object, ...]]:
    """The header, then one row per rollup bucket; money as exact decimal text."""
    yield HEADER
    # Only the exported columns: a model instance would also decode each row's
    # three JSON histograms, which was most of the export's time.
    rows = (
        rollups_in(start=start, end=end, filters=filters)
        .order_by("bucket_start", "agent_name", "model", "provider")
        .values_list(*_COLUMNS)
    )
    for bucket_start, granularity, agent, model, provider, *counts, cost, unpriced in rows.iterator(
        chunk_size=2000
    ):
        yield (
            bucket_start.isoformat(),
            granularity,
            _safe(agent),
            _safe(model),
            provider,
            *counts,
            f"{cost:f}",
            unpriced,
        )


def _safe(text: str) -> str:
    """Defuse spreadsheet formulas: an agent named "=HYPERLINK(...)" is text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
