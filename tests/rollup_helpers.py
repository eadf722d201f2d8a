"""Rollup rows for tests and benchmarks.

``rollup_make`` builds one row with known numbers (selector tests assert exact
sums against it). ``rollups_fill`` turns the call log into rollups with the
real job (``costs.rollups.rollups_rebuild_all``), otherwise with a small
in-Python equivalent, so pages have data to draw before that job lands.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from calls.models import CallStatus, LLMCall
from common import histogram
from costs.models import UsageRollup
from tests.factories import UsageRollupFactory

MINUTE_RETENTION = timedelta(days=2)


def rollup_make(
    *,
    bucket_start: datetime,
    granularity: str = "hour",
    latencies: tuple[float, ...] = (),
    ttfts: tuple[float, ...] = (),
    **fields: Any,
) -> UsageRollup:
    """One rollup row; latencies/ttfts become its histograms (calls default to their count)."""
    return UsageRollupFactory(
        bucket_start=bucket_start,
        granularity=granularity,
        latencies=latencies,
        ttfts=ttfts,
        **fields,
    )


def _floor(moment: datetime, granularity: str) -> datetime:
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return moment if granularity == "minute" else moment.replace(minute=0)


def _empty_row() -> dict[str, Any]:
    return {
        "calls": 0,
        "errors": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cached_tokens": 0,
        "cost": Decimal("0"),
        "saved_cost": Decimal("0"),
        "cache_hits": 0,
        "retries": 0,
        "fallbacks": 0,
        "unpriced_calls": 0,
        "latency_sum_ms": 0.0,
        "latency_hist": histogram.empty(),
        "ttft_count": 0,
        "ttft_hist": histogram.empty(),
        "error_types": defaultdict(int),
    }


def _add(row: dict[str, Any], call: LLMCall) -> None:
    row["calls"] += 1
    if call.status != CallStatus.SUCCESS:
        row["errors"] += 1
        row["error_types"][call.error_type or call.status] += 1
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "cost", "saved_cost"):
        row[name] += getattr(call, name)
    row["cache_hits"] += call.cache_hit
    row["retries"] += call.retries
    row["fallbacks"] += bool(call.fallback)
    row["unpriced_calls"] += not call.priced
    row["latency_sum_ms"] += call.latency_ms
    histogram.add(row["latency_hist"], call.latency_ms)
    if call.ttft_ms is not None:
        row["ttft_count"] += 1
        histogram.add(row["ttft_hist"], call.ttft_ms)


def _fill_in_python(granularities: tuple[str, ...]) -> None:
    rows: dict[tuple, dict[str, Any]] = defaultdict(_empty_row)
    # Minute rows are kept for recent traffic only, as a retention job would.
    minute_from = timezone.now() - MINUTE_RETENTION
    for call in LLMCall.objects.all().iterator(chunk_size=5000):
        for granularity in granularities:
            if granularity == "minute" and call.created_at < minute_from:
                continue
            key = (granularity, _floor(call.created_at, granularity), call.agent_name, call.model)
            _add(rows[(*key, call.provider)], call)
    UsageRollup.objects.all().delete()
    UsageRollup.objects.bulk_create(
        [
            UsageRollup(
                granularity=g,
                bucket_start=b,
                agent_name=a,
                model=m,
                provider=p,
                **{**row, "error_types": dict(row["error_types"])},
            )
            for (g, b, a, m, p), row in rows.items()
        ],
        batch_size=2000,
    )


def rollups_fill(*, granularities: tuple[str, ...] = ("minute", "hour")) -> None:
    try:
        from costs.rollups import rollups_rebuild_all
    except ImportError:  # a checkout without the rollup job
        _fill_in_python(granularities)
        return
    rollups_rebuild_all()
