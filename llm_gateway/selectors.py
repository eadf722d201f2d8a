"""Reads for the performance page (rollups) and the request explorer (the call log).

The performance page reads ``UsageRollup`` histograms: percentiles come from
merged fixed buckets (common.histogram), so they can be combined across agents,
models and hours. The request explorer is the one page that reads ``LLMCall``
rows directly, a page at a time by keyset.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db.models import BooleanField, F, Q, QuerySet, Sum, Value

from calls.models import LLMCall
from common import histogram
from common.buckets import bucket_floor, bucket_range
from common.redaction import redact
from costs.usage import rollups_for
from dashkit.figures import Series
from dashkit.filters import DashboardFilters
from llm_gateway import call_order
from llm_gateway.attribution_selectors import calls_attributed, trace_url
from llm_gateway.health import provider_health as health_entries
from llm_gateway.prompt_preview import PromptHead, preview_text

PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def _merged_by_bucket(filters: DashboardFilters, field: str) -> dict[datetime, list[int]]:
    merged: dict[datetime, list[int]] = defaultdict(histogram.empty)
    for start, hist in rollups_for(filters).values_list("bucket_start", field):
        target = merged[bucket_floor(start, width=filters.bucket)]
        for i, count in enumerate(hist[: histogram.BUCKETS]):
            target[i] += count
    return merged


def percentile_series(*, filters: DashboardFilters, field: str = "latency_hist") -> list[Series]:
    """p50/p95/p99 per bucket of ``latency_hist`` or ``ttft_hist``; gaps stay None."""
    merged = _merged_by_bucket(filters, field)
    buckets = bucket_range(start=filters.start, end=filters.end, width=filters.bucket)
    return [
        Series(
            name=name, x=buckets, y=[histogram.percentile(merged.get(b, ()), q) for b in buckets]
        )
        for name, q in PERCENTILES
    ]


def throughput_series(*, filters: DashboardFilters) -> list[Series]:
    """Successful and failed calls per bucket."""
    calls: dict[datetime, int] = defaultdict(int)
    errors: dict[datetime, int] = defaultdict(int)
    rows = rollups_for(filters).values("bucket_start").annotate(c=Sum("calls"), e=Sum("errors"))
    for row in rows:
        bucket = bucket_floor(row["bucket_start"], width=filters.bucket)
        calls[bucket] += row["c"] or 0
        errors[bucket] += row["e"] or 0
    buckets = bucket_range(start=filters.start, end=filters.end, width=filters.bucket)
    return [
        Series(name="succeeded", x=buckets, y=[float(calls[b] - errors[b]) for b in buckets]),
        Series(name="failed", x=buckets, y=[float(errors[b]) for b in buckets]),
    ]


def errors_by_type(*, filters: DashboardFilters) -> list[tuple[str, int]]:
    """Error counts per error type, most frequent first."""
    counts: dict[str, int] = defaultdict(int)
    for types in rollups_for(filters).filter(errors__gt=0).values_list("error_types", flat=True):
        for name, n in (types or {}).items():
            counts[name or "unknown"] += int(n)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


# Refusals by their error type in the rollups: the gateway's own refusal rows
# carry their status there (llm_gateway.refusals); a budget block its exception.
REFUSALS = (
    ("rate_limited", "rate limited", "rate_limited"),
    ("unauthorized", "bad key", "unauthorized"),
    ("LLMBudgetExceededError", "over budget", "blocked"),
)


@dataclass(frozen=True)
class RefusalCount:
    label: str
    status: str  # the request explorer's status filter that lists them
    count: int


def refusal_counts(*, by_type: list[tuple[str, int]]) -> list[RefusalCount]:
    """Calls the gateway refused itself, by kind, from ``errors_by_type``'s counts."""
    counts = dict(by_type)
    return [RefusalCount(label, status, counts.get(kind, 0)) for kind, label, status in REFUSALS]


@dataclass(frozen=True)
class ProviderStats:
    provider: str
    calls: int
    errors: int
    retries: int
    fallbacks: int
    p95_ms: float | None

    @property
    def error_pct(self) -> float:
        return self.errors / self.calls * 100 if self.calls else 0.0


def provider_stats(*, filters: DashboardFilters) -> list[ProviderStats]:
    """Per provider: traffic, errors, retries, failovers and p95 latency."""
    totals: dict[str, dict[str, Any]] = {}
    rows = rollups_for(filters).values_list(
        "provider", "calls", "errors", "retries", "fallbacks", "latency_hist"
    )
    for provider, calls, errors, retries, fallbacks, hist in rows:
        entry = totals.setdefault(
            provider or "(none)", {"c": 0, "e": 0, "r": 0, "f": 0, "h": histogram.empty()}
        )
        entry["c"] += calls
        entry["e"] += errors
        entry["r"] += retries
        entry["f"] += fallbacks
        entry["h"] = histogram.merge([entry["h"], hist])
    return [
        ProviderStats(name, t["c"], t["e"], t["r"], t["f"], histogram.percentile(t["h"], 0.95))
        for name, t in sorted(totals.items(), key=lambda item: -item[1]["c"])
    ]


def _health_row(entry: dict[str, Any]) -> dict[str, Any]:
    """One llm_gateway.health entry, flattened for the table (names of key
    variables only, never their values)."""
    check = entry.get("check") or {}
    return {
        "provider": entry["name"],
        "kind": entry["kind"],
        "source": entry.get("source", ""),
        "status": check.get("status", "skipped"),
        "circuit": entry.get("circuit", "closed"),
        "latency_ms": check.get("latency_ms"),
        "detail": entry.get("misconfigured") or check.get("error") or check.get("reason", ""),
        "api_key_env": entry.get("api_key_env", ""),
        "calls": entry.get("calls", 0),
        "error_rate": entry.get("error_rate"),
        "p50_latency_ms": entry.get("p50_latency_ms"),
    }


def provider_health() -> list[dict[str, Any]]:
    """Each provider's configuration, circuit, recent error rate and cached live check."""
    return [_health_row(entry) for entry in health_entries()]


# --- request explorer -----------------------------------------------------------

PAGE_SIZE = 50


def cursor_encode(call: LLMCall) -> str:
    raw = f"{call.created_at.isoformat()}|{call.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_decode(token: str) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) a page starts after; None for a missing or forged token."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        stamp, call_id = raw.split("|", 1)
        return datetime.fromisoformat(stamp), uuid.UUID(call_id)
    except (ValueError, UnicodeDecodeError):
        return None


def _has_validation() -> bool:
    try:
        apps.get_model("validation", "ValidationResult")
    except LookupError:
        return False
    return True


def _search(q: str) -> Q:
    try:
        return Q(id=uuid.UUID(q))
    except ValueError:
        pass
    return (
        Q(agent_name__icontains=q)
        | Q(model__icontains=q)
        | Q(error_type__icontains=q)
        | Q(error_message__icontains=q)
    )


def calls_filtered(*, filters: DashboardFilters) -> QuerySet[LLMCall]:
    calls = LLMCall.objects.filter(created_at__gte=filters.start, created_at__lt=filters.end)
    exact = {
        "agent_name": filters.agent,
        "model": filters.model,
        "provider": filters.provider,
        "operation": filters.operation,
        "status": filters.status,
    }
    calls = calls.filter(**{k: v for k, v in exact.items() if v})
    if filters.min_cost is not None:
        calls = calls.filter(cost__gte=filters.min_cost)
    if filters.has_attribution:
        calls = calls_attributed(calls, filters=filters)
    if filters.q:
        calls = calls.filter(_search(filters.q))
    if filters.validation and _has_validation():
        if filters.validation == "unvalidated":
            calls = calls.filter(validation__isnull=True)
        else:
            calls = calls.filter(validation__is_valid=filters.validation == "valid")
    return calls


@dataclass(frozen=True)
class CallPage:
    calls: list[LLMCall]
    next_cursor: str | None
    is_first: bool


def call_page(*, filters: DashboardFilters, after: str = "", size: int | None = None) -> CallPage:
    """One page of the call log, newest first, walking the (created_at, id) keyset index.

    Keyset instead of OFFSET: page 2,000 costs the same as page 1 and a call
    arriving meanwhile never shifts rows between pages.
    """
    size = size or PAGE_SIZE
    if filters.sort != "newest":
        return _sorted_page(filters=filters, after=after, size=size)
    calls = calls_filtered(filters=filters).order_by("-created_at", "-id")
    position = cursor_decode(after) if after else None
    if position is not None:
        created, call_id = position
        # (created_at, id) < (created, call_id), spelled so the planner gets a
        # range on the index's first column: with only the OR, Postgres walks
        # the keyset index from the newest call and filters, so page N read
        # N x 50 rows (EXPLAIN ANALYZE at 1 M calls: 10,050 rows removed by
        # filter on page 201); with the bound it starts at the cursor.
        calls = calls.filter(created_at__lte=created).filter(
            Q(created_at__lt=created) | Q(id__lt=call_id)
        )
    rows, more = _rows(calls, size)
    return CallPage(
        calls=rows,
        next_cursor=cursor_encode(rows[-1]) if more else None,
        is_first=position is None,
    )


def _sorted_page(*, filters: DashboardFilters, after: str, size: int) -> CallPage:
    """Oldest first, most expensive or slowest (llm_gateway.call_order)."""
    calls = call_order.ordered(calls_filtered(filters=filters), filters.sort)
    seeked = call_order.seek(calls, filters.sort, after) if after else None
    rows, more = _rows(seeked if seeked is not None else calls, size)
    return CallPage(
        calls=rows,
        next_cursor=call_order.cursor_after(rows[-1], filters.sort) if more else None,
        is_first=seeked is None,
    )


# Counting every match of a month at a million calls is a scan; past this many
# the page says "1,000+" instead of counting on (a bounded walk of the index).
COUNT_CAP = 1_000


def call_count(*, filters: DashboardFilters) -> tuple[int, bool] | None:
    """How many calls match, exactly up to COUNT_CAP: (count, capped). None for a
    text search: no index serves it, so counting would read the whole window
    again after the page already did."""
    if filters.q:
        return None
    n = calls_filtered(filters=filters).order_by()[: COUNT_CAP + 1].count()
    return min(n, COUNT_CAP), n > COUNT_CAP


def _rows(calls: QuerySet[LLMCall], size: int) -> tuple[list[LLMCall], bool]:
    # A LEFT JOIN for the verdict only, instead of loading each result's checks.
    outcome = F("validation__is_valid") if _has_validation() else Value(None, BooleanField())
    calls = calls.annotate(validation_outcome=outcome)
    fields = [
        "id",
        "created_at",
        "agent_name",
        "provider",
        "operation",
        "model",
        "status",
        "error_type",
        "http_status",
        "total_tokens",
        "cost",
        "latency_ms",
        "retries",
        "fallback",
        "cache_hit",
        "stream",
        "priced",
        "session_id",
        "end_user",
        "tags",
    ]
    rows = list(calls.only(*fields).annotate(prompt_head=PromptHead())[: size + 1])
    for row in rows:
        row.prompt_preview = preview_text(row.prompt_head)
    return rows[:size], len(rows) > size


@dataclass(frozen=True)
class CallDetail:
    call: LLMCall
    request_body: str | None  # pretty JSON, redacted
    response_body: str | None
    metadata: str | None
    validation: Any
    feedback: list[Any]
    trace_url: str | None


def _pretty(value: Any) -> str | None:
    if value in (None, {}, []):
        return None
    return json.dumps(redact(value), indent=2, ensure_ascii=False, default=str)


def call_detail(*, call_id: uuid.UUID) -> CallDetail | None:
    """The full record with bodies redacted again on the way out (defence in depth)."""
    call = LLMCall.objects.filter(id=call_id).first()
    if call is None:
        return None
    validation = getattr(call, "validation", None) if _has_validation() else None
    return CallDetail(
        call=call,
        request_body=_pretty(call.request_body),
        response_body=_pretty(call.response_body),
        metadata=_pretty(call.metadata),
        validation=validation,
        feedback=list(call.feedback.all()[:50]) if _has_validation() else [],
        trace_url=trace_url(call.trace_id),
    )
