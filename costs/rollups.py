"""Writes of usage rollups: the call log folded into minute and hour buckets,
and (costs.attribution_rollups) into sessions and per-user and per-tag days.

A bucket is always recomputed whole (minute buckets from the raw rows, hour
buckets from their minute buckets) and replaced in one transaction, so running
the job twice, concurrently, or after late rows never double counts.

The job reads the log by ``recorded_at`` (when the row was written), not
``created_at`` (when the call started): a ten-minute stream lands in its
start minute, long after that minute was first rolled up, and the cursor on
``recorded_at`` is what finds it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from calls.models import CallStatus, LLMCall
from common import histogram
from common.buckets import bucket_floor
from costs.attribution_rollups import attribution_refresh
from costs.models import Granularity, RollupCursor, UsageRollup

CURSOR = "usage"
# A row is written with recorded_at = now() and becomes visible at commit, a
# moment later. Reading only rows older than this lag means the cursor never
# moves past a row that is still about to commit.
COMMIT_LAG = timedelta(seconds=10)
STEP = {Granularity.MINUTE: timedelta(minutes=1), Granularity.HOUR: timedelta(hours=1)}
_KEY_FIELDS = ("agent_name", "model", "provider", "operation")
_ROW_FIELDS = (
    *_KEY_FIELDS,
    "created_at",
    "status",
    "error_type",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost",
    "saved_cost",
    "cache_hit",
    "retries",
    "fallback",
    "priced",
    "latency_ms",
    "ttft_ms",
    "occurrences",
)


def rollups_update(*, now: datetime | None = None) -> int:
    """Fold in every call recorded since the last run; returns buckets rewritten."""
    until = (now or timezone.now()) - COMMIT_LAG
    with transaction.atomic():
        cursor = _cursor_locked()
        since = cursor.position if cursor else None
        if since is not None and since >= until:
            return 0
        recorded = _recorded(since=since, until=until)
        touched = _minutes_touched(recorded)
        written = _refresh(touched) + attribution_refresh(recorded)
        RollupCursor.objects.update_or_create(name=CURSOR, defaults={"position": until})
    return written


def rollups_rebuild(*, start: datetime, end: datetime) -> int:
    """Recompute every bucket between start and end that has calls, e.g. after
    a bulk import whose rows carry past ``recorded_at`` values the cursor has
    already passed. Buckets without raw rows are left alone: once retention has
    pruned the log, the rollups are the only history left."""
    calls = LLMCall.objects.filter(created_at__gte=start, created_at__lt=end)
    with transaction.atomic():
        return _refresh(_minutes_touched(calls)) + attribution_refresh(calls)


def rollups_rebuild_all() -> int:
    first = LLMCall.objects.aggregate(first=Min("created_at"))["first"]
    if first is None:
        return 0
    return rollups_rebuild(start=first, end=timezone.now() + timedelta(minutes=1))


def rollup_position() -> datetime | None:
    """Calls recorded before this instant are in the rollups (None: never run)."""
    return RollupCursor.objects.filter(name=CURSOR).values_list("position", flat=True).first()


def _cursor_locked() -> RollupCursor | None:
    # Row lock on Postgres serialises two concurrent runs; SQLite's IMMEDIATE
    # transactions (settings) already do.
    return RollupCursor.objects.select_for_update().filter(name=CURSOR).first()


def _recorded(*, since: datetime | None, until: datetime) -> QuerySet[LLMCall]:
    rows = LLMCall.objects.filter(recorded_at__lt=until)
    return rows if since is None else rows.filter(recorded_at__gte=since)


def _minutes_touched(calls: QuerySet[LLMCall]) -> set[datetime]:
    return {
        bucket_floor(t, width=STEP[Granularity.MINUTE])
        for t in calls.values_list("created_at", flat=True).iterator()
    }


def _refresh(minutes: set[datetime]) -> int:
    if not minutes:
        return 0
    written = 0
    for group in _groups(sorted(minutes), max_gap=_MINUTE_GAP, max_span=_MINUTE_SPAN):
        written += _replace_minutes(group)
    hours = sorted({bucket_floor(m, width=STEP[Granularity.HOUR]) for m in minutes})
    for group in _groups(hours, max_gap=_HOUR_GAP, max_span=_HOUR_SPAN):
        written += _replace_hours(group)
    return written


# Buckets to rewrite are handled in groups, three queries per group: sparse
# history (a seeded month, late rows) used to cost three queries per minute.
# A group's read spans the gaps between its buckets, so gaps and spans are capped.
_MINUTE_GAP, _MINUTE_SPAN = timedelta(hours=1), timedelta(days=1)
_HOUR_GAP, _HOUR_SPAN = timedelta(days=1), timedelta(days=7)


def _groups(
    starts: list[datetime], *, max_gap: timedelta, max_span: timedelta
) -> Iterable[list[datetime]]:
    """Sorted bucket starts cut into groups with no gap or span above the caps."""
    group = [starts[0]]
    for start in starts[1:]:
        if start - group[-1] > max_gap or start - group[0] >= max_span:
            yield group
            group = []
        group.append(start)
    yield group


def _replace_minutes(group: list[datetime]) -> int:
    wanted = set(group)
    step = STEP[Granularity.MINUTE]
    rows = LLMCall.objects.filter(
        created_at__gte=group[0], created_at__lt=group[-1] + step
    ).values_list(*_ROW_FIELDS)
    buckets: dict[tuple, dict[str, Any]] = defaultdict(_empty_bucket)
    for row in rows.iterator():
        record = dict(zip(_ROW_FIELDS, row, strict=True))
        minute = bucket_floor(record["created_at"], width=STEP[Granularity.MINUTE])
        if minute in wanted:
            _add_call(buckets[(minute, *row[: len(_KEY_FIELDS)])], record)
    UsageRollup.objects.filter(granularity=Granularity.MINUTE, bucket_start__in=group).delete()
    UsageRollup.objects.bulk_create(
        _rollup(Granularity.MINUTE, key, values) for key, values in buckets.items()
    )
    return len(buckets)


def _replace_hours(group: list[datetime]) -> int:
    wanted = set(group)
    minutes = UsageRollup.objects.filter(
        granularity=Granularity.MINUTE,
        bucket_start__gte=group[0],
        bucket_start__lt=group[-1] + STEP[Granularity.HOUR],
    )
    buckets: dict[tuple, dict[str, Any]] = defaultdict(_empty_bucket)
    for minute in minutes.iterator():
        hour = bucket_floor(minute.bucket_start, width=STEP[Granularity.HOUR])
        if hour in wanted:
            key = (hour, *(getattr(minute, name) for name in _KEY_FIELDS))
            _add_rollup(buckets[key], minute)
    UsageRollup.objects.filter(granularity=Granularity.HOUR, bucket_start__in=group).delete()
    UsageRollup.objects.bulk_create(
        _rollup(Granularity.HOUR, key, values) for key, values in buckets.items()
    )
    return len(buckets)


_SUMMED = (
    "calls",
    "errors",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost",
    "saved_cost",
    "cache_hits",
    "retries",
    "fallbacks",
    "unpriced_calls",
    "latency_sum_ms",
    "ttft_count",
)


def _empty_bucket() -> dict[str, Any]:
    bucket: dict[str, Any] = dict.fromkeys(_SUMMED, 0)
    bucket.update(
        cost=Decimal(0),
        saved_cost=Decimal(0),
        latency_sum_ms=0.0,
        latency_hist=histogram.empty(),
        ttft_hist=histogram.empty(),
        error_types={},
    )
    return bucket


def _add_call(bucket: dict[str, Any], call: dict[str, Any]) -> None:
    # An aggregated refusal row stands for many calls (llm_gateway.refusals).
    times = call["occurrences"]
    bucket["calls"] += times
    if call["status"] != CallStatus.SUCCESS:
        bucket["errors"] += times
        kind = call["error_type"] or call["status"]
        bucket["error_types"][kind] = bucket["error_types"].get(kind, 0) + times
    for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "cost", "saved_cost"):
        bucket[name] += call[name]
    bucket["cache_hits"] += int(call["cache_hit"])
    bucket["retries"] += call["retries"]
    bucket["fallbacks"] += int(bool(call["fallback"]))
    bucket["unpriced_calls"] += int(not call["priced"])
    bucket["latency_sum_ms"] += call["latency_ms"]
    histogram.add(bucket["latency_hist"], call["latency_ms"])
    if call["ttft_ms"] is not None:
        bucket["ttft_count"] += 1
        histogram.add(bucket["ttft_hist"], call["ttft_ms"])


def _add_rollup(bucket: dict[str, Any], rollup: UsageRollup) -> None:
    for name in _SUMMED:
        bucket[name] += getattr(rollup, name)
    bucket["latency_hist"] = histogram.merge([bucket["latency_hist"], rollup.latency_hist])
    bucket["ttft_hist"] = histogram.merge([bucket["ttft_hist"], rollup.ttft_hist])
    for kind, count in rollup.error_types.items():
        bucket["error_types"][kind] = bucket["error_types"].get(kind, 0) + count


def _rollup(granularity: str, key: tuple, values: dict[str, Any]) -> UsageRollup:
    bucket_start, *dimensions = key
    return UsageRollup(
        granularity=granularity,
        bucket_start=bucket_start,
        **dict(zip(_KEY_FIELDS, dimensions, strict=True)),
        **values,
    )
