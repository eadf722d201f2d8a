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


def usage_csv_rows(
    *, start: datetime, end: datetime, filters: UsageFilter | None = None
) -> Iterator[tuple[object, ...]]:
    """The header, then one row per rollup bucket; money as exact decimal text."""
    yield HEADER
    rows = rollups_in(start=start, end=end, filters=filters).order_by(
        "bucket_start", "agent_name", "model", "provider"
    )
    for r in rows.iterator():
        yield (
            r.bucket_start.isoformat(),
            r.granularity,
            _safe(r.agent_name),
            _safe(r.model),
            r.provider,
            r.calls,
            r.errors,
            r.prompt_tokens,
            r.completion_tokens,
            r.cached_tokens,
            f"{r.cost:f}",
            r.unpriced_calls,
        )


def _safe(text: str) -> str:
    """Defuse spreadsheet formulas: an agent named "=HYPERLINK(...)" is text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
