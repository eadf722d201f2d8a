"""Exports of cost data, streamed: rollup buckets for the dashboard's CSV, and
the raw calls of a time range as CSV or JSON.

Nothing here builds the export in memory: rows come from ``.values_list``
with ``.iterator(chunk_size=2000)`` and leave as soon as they are formatted,
so a year of calls costs the same memory as a day.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from calls.models import LLMCall
from costs.usage import UsageFilter, rollups_in

CHUNK = 2000
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
    "operation",  # last, so readers of the earlier columns by position are unaffected
)
_ROLLUP_COLUMNS = (
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
    "operation",
)
# No bodies, no key material: the key appears only as its public prefix.
CALL_FIELDS = (
    "id",
    "created_at",
    "agent_name",
    "key_prefix",
    "provider",
    "requested_model",
    "model",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost",
    "priced",
    "latency_ms",
    "finish_reason",
    "operation",
    # Attribution (llm_gateway.attribution); tags are an object in JSON, JSON text in CSV.
    "session_id",
    "trace_id",
    "span_id",
    "parent_id",
    "step",
    "end_user",
    "tags",
)
_TEXT_FIELDS = {
    "agent_name",
    "requested_model",
    "model",
    "provider",
    "finish_reason",
    "session_id",
    "step",
    "end_user",
    "tags",
}


def usage_csv_rows(
    *, start: datetime, end: datetime, filters: UsageFilter | None = None
) -> Iterator[tuple[object, ...]]:
    """The header, then one row per rollup bucket; money as exact decimal text."""
    yield HEADER
    # Only the exported columns: a model instance would also decode each row's
    # three JSON histograms, which was most of the export's time.
    rows = (
        rollups_in(start=start, end=end, filters=filters)
        .order_by("bucket_start", "agent_name", "model", "provider", "operation")
        .values_list(*_ROLLUP_COLUMNS)
    )
    for (
        bucket_start,
        granularity,
        agent,
        model,
        provider,
        *counts,
        cost,
        unpriced,
        operation,
    ) in rows.iterator(chunk_size=CHUNK):
        yield (
            bucket_start.isoformat(),
            granularity,
            _safe(agent),
            _safe(model),
            _safe(provider),
            *counts,
            f"{cost:f}",
            unpriced,
            operation,
        )


def calls_rows(
    *, start: datetime, end: datetime, filters: UsageFilter | None = None
) -> Iterator[dict[str, object]]:
    """Calls in [start, end) oldest first, as JSON-ready dicts (money as text)."""
    rows = (
        LLMCall.objects.filter((filters or UsageFilter()).q(), created_at__gte=start)
        .filter(created_at__lt=end)
        .order_by("created_at", "id")
        .values_list(*CALL_FIELDS)
    )
    for values in rows.iterator(chunk_size=CHUNK):
        row = dict(zip(CALL_FIELDS, values, strict=True))
        row["id"] = str(row["id"])
        row["created_at"] = row["created_at"].isoformat()
        row["cost"] = f"{row['cost']:f}"
        yield row


def calls_csv_lines(
    *, start: datetime, end: datetime, filters: UsageFilter | None = None
) -> Iterator[str]:
    """CSV text, one line per call after the header; formulas defused."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: tuple[object, ...]) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(CALL_FIELDS)
    for row in calls_rows(start=start, end=end, filters=filters):
        row["tags"] = json.dumps(row["tags"] or {}, ensure_ascii=False)
        yield line(tuple(_safe(str(v)) if k in _TEXT_FIELDS else v for k, v in row.items()))


def calls_json_chunks(
    *, start: datetime, end: datetime, filters: UsageFilter | None = None
) -> Iterator[str]:
    """A JSON array of calls, streamed as text chunks (one element each)."""
    yield "["
    for index, row in enumerate(calls_rows(start=start, end=end, filters=filters)):
        yield ("," if index else "") + json.dumps(row)
    yield "]"


def flat_csv_rows(rows: Iterable[dict[str, object]]) -> Iterator[tuple[object, ...]]:
    """Flat dict rows (a user's or a tag's day rollups) as a header, then values.

    The usage rollups have no user or tag column, so a costs view filtered or
    stacked by one exports the rows its own source holds, not a wider view.
    """
    header: tuple[str, ...] | None = None
    for row in rows:
        if header is None:
            header = tuple(row)
            yield header
        yield tuple(_safe(v) if isinstance(v, str) else v for v in row.values())


def _safe(text: str) -> str:
    """Defuse spreadsheet formulas: an agent named "=HYPERLINK(...)" is text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
