"""The read model over the usage rollups: every page, export, recommendation and
the API read usage through here.

Dashboards read ``UsageRollup`` rows, never the raw call log, so a page costs
the same with a thousand calls or a billion. The one exception is the live
tail of the stat cards: calls newer than the rollup cursor's minute are read
raw (a bounded, indexed range), so "spend today" does not lag the rollup job.
Charts and tables over a dashboard window are in ``costs.usage_series``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, QuerySet, Sum

from calls.models import CallStatus, LLMCall
from common import histogram
from common.buckets import bucket_floor
from costs.models import Granularity, UsageRollup
from costs.rollups import STEP, rollup_position

DIMENSION_FIELDS = {
    "agent": "agent_name",
    "model": "model",
    "provider": "provider",
    "operation": "operation",
}
ZERO = Decimal("0")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# Up to this span, reads without a chosen granularity use minute buckets; beyond, hours.
MINUTE_SPAN_LIMIT = timedelta(hours=6)


@dataclass(frozen=True)
class UsageFilter:
    """The dimensions a read is narrowed to; empty means "all"."""

    agent: str = ""
    model: str = ""
    provider: str = ""
    operation: str = ""

    @classmethod
    def of(cls, filters: Any) -> UsageFilter:
        """The dimensions of any filter with agent/model/provider/operation (DashboardFilters)."""
        return cls(
            agent=filters.agent,
            model=filters.model,
            provider=filters.provider,
            operation=getattr(filters, "operation", ""),
        )

    def q(self) -> Q:
        query = Q()
        for name, column in DIMENSION_FIELDS.items():
            if value := getattr(self, name):
                query &= Q(**{column: value})
        return query


@dataclass
class UsageTotals:
    """Sums over rollup rows (and the raw live tail): one type for every reader."""

    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = ZERO
    saved_cost: Decimal = ZERO
    retries: int = 0
    fallbacks: int = 0
    unpriced_calls: int = 0
    # Empty when latency was not asked for (p95_latency_ms is then None).
    latency_hist: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def error_pct(self) -> float:
        return self.error_rate * 100

    def latency_ms(self, q: float) -> float | None:
        return histogram.percentile(self.latency_hist, q) if self.latency_hist else None

    @property
    def p95_latency_ms(self) -> float | None:
        return self.latency_ms(0.95)

    @property
    def cost_per_1k_calls(self) -> Decimal | None:
        return (self.cost * 1000 / self.calls).quantize(Decimal("0.0001")) if self.calls else None

    @property
    def cost_per_call(self) -> Decimal | None:
        return (self.cost / self.calls).quantize(Decimal("0.000001")) if self.calls else None

    def add(self, other: UsageTotals) -> UsageTotals:
        """This plus ``other``, field by field (histograms merged)."""
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.latency_hist:
            self.latency_hist = histogram.merge([self.latency_hist, other.latency_hist])
        return self


# Every sum: all fields but the histogram, merged apart.
_SUMMED = tuple(f.name for f in fields(UsageTotals) if f.name != "latency_hist")


def granularity_for(start: datetime, end: datetime) -> str:
    return Granularity.MINUTE if end - start <= MINUTE_SPAN_LIMIT else Granularity.HOUR


def rollups_in(
    *,
    start: datetime,
    end: datetime,
    granularity: str | None = None,
    filters: UsageFilter | None = None,
) -> QuerySet[UsageRollup]:
    """Rollup rows of one granularity in [start, end), narrowed to ``filters``.

    Without a granularity the span's own is used (``granularity_for``), and the
    bucket holding ``start`` is included (buckets are not split)."""
    if granularity is None:
        granularity = granularity_for(start, end)
        start = bucket_floor(start, width=STEP[granularity])
    return UsageRollup.objects.filter(
        (filters or UsageFilter()).q(),
        granularity=granularity,
        bucket_start__gte=start,
        bucket_start__lt=end,
    )


def rollups_for(filters: Any) -> QuerySet[UsageRollup]:
    """The rollup rows of a dashboard window (DashboardFilters)."""
    return rollups_in(
        start=filters.start,
        end=filters.end,
        granularity=filters.granularity,
        filters=UsageFilter.of(filters),
    )


def totals_of(rows: QuerySet[UsageRollup], *, latency: bool = True) -> UsageTotals:
    """The rows summed in the database (histograms merged here, only on request:
    decoding a month of them is most of a month card's cost)."""
    agg = rows.aggregate(**{name: Sum(name) for name in _SUMMED})
    totals = UsageTotals(**{name: agg[name] or 0 for name in _SUMMED})
    totals.cost, totals.saved_cost = agg["cost"] or ZERO, agg["saved_cost"] or ZERO
    if latency:
        totals.latency_hist = histogram.merge(rows.values_list("latency_hist", flat=True))
    return totals


def usage_totals(
    *, start: datetime, end: datetime, filters: UsageFilter | None = None
) -> UsageTotals:
    """Totals of [start, end) from rollups at the span's granularity."""
    return totals_of(rollups_in(start=start, end=end, filters=filters))


def window_totals(*, filters: Any) -> UsageTotals:
    """Totals of a dashboard window, from rollups only (charts and tables agree)."""
    return totals_of(rollups_for(filters))


def window_calls(filters: Any) -> int:
    """How many calls a dashboard window holds (rollups; no histogram decoded)."""
    return totals_of(rollups_for(filters), latency=False).calls


def _raw_totals(calls: QuerySet[LLMCall], *, latency: bool = True) -> UsageTotals:
    agg = calls.aggregate(
        calls=Count("id"),
        errors=Count("id", filter=~Q(status=CallStatus.SUCCESS)),
        prompt=Sum("prompt_tokens"),
        completion=Sum("completion_tokens"),
        cached=Sum("cached_tokens"),
        cost=Sum("cost"),
        saved=Sum("saved_cost"),
        retries=Sum("retries"),
        fallbacks=Count("id", filter=~Q(fallback="")),
        unpriced=Count("id", filter=Q(priced=False)),
    )
    hist = histogram.empty() if latency else []
    for value in calls.values_list("latency_ms", flat=True) if latency else ():
        histogram.add(hist, value)
    return UsageTotals(
        calls=agg["calls"],
        errors=agg["errors"],
        prompt_tokens=agg["prompt"] or 0,
        completion_tokens=agg["completion"] or 0,
        cached_tokens=agg["cached"] or 0,
        cost=agg["cost"] or ZERO,
        saved_cost=agg["saved"] or ZERO,
        retries=agg["retries"] or 0,
        fallbacks=agg["fallbacks"],
        unpriced_calls=agg["unpriced"],
        latency_hist=hist,
    )


def rollup_watermark() -> datetime | None:
    """Start of the newest hour bucket: hours before it are complete in the rollups.

    The newest bucket itself may have been computed mid-hour, so it is read raw.
    """
    return UsageRollup.objects.filter(granularity=Granularity.HOUR).aggregate(
        latest=Max("bucket_start")
    )["latest"]


def live_tail_start() -> datetime | None:
    """Where the rollups end and the raw live tail begins.

    The rollup cursor says every call recorded before it is folded in, so only
    calls since its minute are read raw: at most the job's interval (30 s) of
    traffic, whatever the size of the log. A call that started before that
    minute but was recorded after the cursor (a long stream) shows up at the
    next run. Before the job has ever run (no cursor, e.g. after a bulk
    rebuild) the newest hour bucket is the best bound there is.
    """
    position = rollup_position()
    if position is None:
        return rollup_watermark()
    return bucket_floor(position, width=MINUTE)


def _rolled_totals(
    *, start: datetime, split: datetime, dims: UsageFilter, latency: bool
) -> UsageTotals:
    """Rollups of [start, split): whole hours from hour rows, the ragged ends
    (split inside an hour, start off the hour) from minute rows."""
    first_hour = bucket_floor(start + HOUR - MINUTE, width=HOUR)
    last_hour = max(bucket_floor(split, width=HOUR), first_hour)
    parts = [
        rollups_in(start=first_hour, end=last_hour, granularity=Granularity.HOUR, filters=dims)
    ]
    for edge_start, edge_end in ((start, min(first_hour, split)), (last_hour, split)):
        if edge_start < edge_end:
            parts.append(
                rollups_in(
                    start=edge_start, end=edge_end, granularity=Granularity.MINUTE, filters=dims
                )
            )
    totals = UsageTotals()
    for part in parts:
        totals.add(totals_of(part, latency=latency))
    return totals


def period_totals(
    *,
    start: datetime,
    end: datetime,
    agent: str = "",
    model: str = "",
    provider: str = "",
    operation: str = "",
    latency: bool = True,
) -> UsageTotals:
    """Totals for [start, end): rollups up to the live tail, the tail from the log.

    ``latency=False`` skips the latency histogram (``p95_latency_ms`` is None)."""
    tail_start = live_tail_start()
    split = start if tail_start is None else min(max(start, tail_start), end)
    dims = UsageFilter(agent=agent, model=model, provider=provider, operation=operation)
    tail = LLMCall.objects.filter(dims.q(), created_at__gte=split, created_at__lt=end)
    rolled = _rolled_totals(start=start, split=split, dims=dims, latency=latency)
    return rolled.add(_raw_totals(tail, latency=latency))


def usage_breakdown(
    *, start: datetime, end: datetime, by: str, filters: UsageFilter | None = None
) -> list[tuple[str, UsageTotals]]:
    """Totals per agent, model or provider, most expensive first."""
    column = DIMENSION_FIELDS[by]
    groups: dict[str, UsageTotals] = defaultdict(UsageTotals)
    for row in rollups_in(start=start, end=end, filters=filters).iterator():
        groups[getattr(row, column)].add(row_totals(row))
    return sorted(groups.items(), key=lambda item: (-item[1].cost, item[0]))


def row_totals(row: UsageRollup) -> UsageTotals:
    """One rollup row as totals (for sums kept in Python, per group)."""
    totals = UsageTotals(**{name: getattr(row, name) for name in _SUMMED})
    totals.latency_hist = list(row.latency_hist or [])
    return totals
