"""The request explorer's export: every call the current filters match, as CSV
or JSON Lines, streamed in the explorer's own order.

The walk is the explorer's keyset, a batch at a time: each batch is one query
"the next CHUNK rows after the last one sent" on the order's index, so the
first rows leave at once, memory holds one batch whatever the window, and a
call recorded meanwhile never shifts or repeats rows. (A server-side cursor
would hold a transaction open for the whole download, and under autocommit
PostgreSQL materialises a WITH HOLD cursor's whole result before the first
row.) No bodies and no key material: the key is not even named by prefix.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from dashkit.filters import DashboardFilters
from llm_gateway import call_order
from llm_gateway.selectors import calls_filtered

CHUNK = 2000
FIELDS = (
    "id",
    "created_at",
    "agent_name",
    "operation",
    "provider",
    "requested_model",
    "model",
    "status",
    "error_type",
    "http_status",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "total_tokens",
    "cost",
    "priced",
    "latency_ms",
    "ttft_ms",
    "retries",
    "fallback",
    "cache_hit",
    "finish_reason",
    # Attribution (llm_gateway.attribution): session, trace, parent, step, user, tags.
    "session_id",
    "trace_id",
    "parent_id",
    "span_id",
    "step",
    "end_user",
    "tags",
)
# Free text a spreadsheet could take for a formula ("=HYPERLINK(…)" as an agent name).
_TEXT = {"agent_name", "requested_model", "model", "provider", "error_type", "session_id"}
_TEXT |= {"step", "end_user", "tags", "finish_reason"}


def export_batches(*, filters: DashboardFilters, size: int = CHUNK) -> Iterator[list[dict]]:
    """The filtered calls in the explorer's order, ``size`` rows per batch."""
    calls = call_order.ordered(calls_filtered(filters=filters), filters.sort)
    field = call_order.ORDERS[filters.sort].field  # created_at, cost or latency_ms
    page = calls
    while rows := list(page.values(*FIELDS)[:size]):
        value, last_id = rows[-1][field], rows[-1]["id"]
        yield [_plain(row) for row in rows]
        if len(rows) < size:
            return
        page = call_order.seek_after(calls, filters.sort, value, last_id)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """JSON-ready: ids and times as text, money as exact decimal text."""
    row["id"] = str(row["id"])
    row["created_at"] = row["created_at"].isoformat()
    row["cost"] = f"{row['cost']:f}"
    row["tags"] = row["tags"] or {}
    return row


def jsonl_chunks(*, filters: DashboardFilters, size: int = CHUNK) -> Iterator[str]:
    """One JSON object per line, one chunk per batch."""
    for batch in export_batches(filters=filters, size=size):
        yield "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch)


def csv_chunks(*, filters: DashboardFilters, size: int = CHUNK) -> Iterator[str]:
    """The header, then one chunk of CSV lines per batch; tags as JSON text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FIELDS)
    for batch in export_batches(filters=filters, size=size):
        for row in batch:
            row["tags"] = json.dumps(row["tags"], ensure_ascii=False)
            writer.writerow([_cell(name, row[name]) for name in FIELDS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()  # no rows: the header alone


def _cell(name: str, value: Any) -> Any:
    if value is None:
        return ""
    if name in _TEXT and str(value)[:1] in ("=", "+", "-", "@"):
        return "'" + str(value)
    return value
