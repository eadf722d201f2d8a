"""Reads over the usage rollups, shared by the overview, costs and performance pages.

Dashboards read ``UsageRollup`` rows, never the raw call log, so a page costs
the same with a thousand calls or a billion. The one exception is the live
tail of the stat cards: calls newer than the rollup cursor's minute are read
raw (a bounded, indexed range), so "spend today" does not lag the rollup job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Q, QuerySet, Sum

from costs import histogram
from costs.models import Granularity, UsageRollup
from costs.rollups import rollup_position
from infra_dashboard.filters import DashboardFilters
from llm_gateway.models import CallStatus, LLMCall

DIMENSION_FIELDS = {
    "agent": "agent_name",
    "model": "model",
    "provider": "provider",
    "operation": "operation",
}
ZERO = Decimal("0")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class PeriodTotals:
    calls: int
    errors: int
    cost: Decimal
    tokens: int
    retries: int = 0
    fallbacks: int = 0
    latency_hist: tuple[int, ...] = ()

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def error_pct(self) -> float:
        return self.error_rate * 100

    @property
    def p95_latency_ms(self) -> float | None:
        return histogram.percentile(self.latency_hist, 0.95) if self.latency_hist else None

    @property
    def cost_per_1k_calls(self) -> Decimal | None:
        return (self.cost * 1000 / self.calls).quantize(Decimal("0.0001")) if self.calls else None

    @property
    def cost_per_call(self) -> Decimal | None:
        return (self.cost / self.calls).quantize(Decimal("0.000001")) if self.calls else None


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def bucket_floor(moment: datetime, *, width: timedelta) -> datetime:
    """Floor to a multiple of ``width`` since the epoch (UTC midnight-aligned)."""
    seconds = int(width.total_seconds())
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=UTC)


def bucket_range(*, start: datetime, end: datetime, width: timedelta) -> list[datetime]:
    """Every bucket start of the window, so charts show gaps as zero, not as a jump."""
    out, current = [], bucket_floor(start, width=width)
    while current < end:
        out.append(current)
        current += width
    return out


def rollups_in(
    *,
    start: datetime,
    end: datetime,
    granularity: str = Granularity.HOUR,
    agent: str = "",
    model: str = "",
    provider: str = "",
    operation: str = "",
) -> QuerySet[UsageRollup]:
    """Rollup rows of one granularity in [start, end), narrowed by the dimensions given."""
    rows = UsageRollup.objects.filter(
        granularity=granularity, bucket_start__gte=start, bucket_start__lt=end
    )
    dims = (("agent_name", agent), ("model", model), ("provider", provider))
    for name, value in (*dims, ("operation", operation)):
        if value:
            rows = rows.filter(**{name: value})
    return rows


def rollups_for(filters: DashboardFilters) -> QuerySet[UsageRollup]:
    return rollups_in(
        start=filters.start,
        end=filters.end,
        granularity=filters.granularity,
        agent=filters.agent,
        model=filters.model,
        provider=filters.provider,
        operation=filters.operation,
    )


def _rollup_totals(rows: QuerySet[UsageRollup], *, latency: bool = True) -> PeriodTotals:
    agg = rows.aggregate(
        calls=Sum("calls"),
        errors=Sum("errors"),
        cost=Sum("cost"),
        prompt=Sum("prompt_tokens"),
        completion=Sum("completion_tokens"),
        retries=Sum("retries"),
        fallbacks=Sum("fallbacks"),
    )
    # Decoding a month of histograms is most of a month card's cost: only on request.
    hist = histogram.merge(rows.values_list("latency_hist", flat=True)) if latency else []
    return PeriodTotals(
        calls=agg["calls"] or 0,
        errors=agg["errors"] or 0,
        cost=agg["cost"] or ZERO,
        tokens=(agg["prompt"] or 0) + (agg["completion"] or 0),
        retries=agg["retries"] or 0,
        fallbacks=agg["fallbacks"] or 0,
        latency_hist=tuple(hist),
    )


def _raw_totals(calls: QuerySet[LLMCall], *, latency: bool = True) -> PeriodTotals:
    agg = calls.aggregate(
        calls=Count("id"),
        errors=Count("id", filter=~Q(status=CallStatus.SUCCESS)),
        cost=Sum("cost"),
        tokens=Sum("total_tokens"),
        retries=Sum("retries"),
        fallbacks=Count("id", filter=~Q(fallback="")),
    )
    hist = histogram.empty() if latency else []
    for value in calls.values_list("latency_ms", flat=True) if latency else ():
        histogram.add(hist, value)
    return PeriodTotals(
        calls=agg["calls"],
        errors=agg["errors"],
        cost=agg["cost"] or ZERO,
        tokens=agg["tokens"] or 0,
        retries=agg["retries"] or 0,
        fallbacks=agg["fallbacks"],
        latency_hist=tuple(hist),
    )


def _combine(a: PeriodTotals, b: PeriodTotals) -> PeriodTotals:
    return PeriodTotals(
        calls=a.calls + b.calls,
        errors=a.errors + b.errors,
        cost=a.cost + b.cost,
        tokens=a.tokens + b.tokens,
        retries=a.retries + b.retries,
        fallbacks=a.fallbacks + b.fallbacks,
        latency_hist=tuple(histogram.merge([a.latency_hist, b.latency_hist])),
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
    *, start: datetime, split: datetime, dims: dict[str, str], latency: bool
) -> PeriodTotals:
    """Rollups of [start, split): whole hours from hour rows, the ragged ends
    (split inside an hour, start off the hour) from minute rows."""
    first_hour = bucket_floor(start + HOUR - MINUTE, width=HOUR)
    last_hour = max(bucket_floor(split, width=HOUR), first_hour)
    parts = [rollups_in(start=first_hour, end=last_hour, **dims)]
    for edge_start, edge_end in ((start, min(first_hour, split)), (last_hour, split)):
        if edge_start < edge_end:
            parts.append(
                rollups_in(start=edge_start, end=edge_end, granularity=Granularity.MINUTE, **dims)
            )
    totals = _rollup_totals(parts[0], latency=latency)
    for part in parts[1:]:
        totals = _combine(totals, _rollup_totals(part, latency=latency))
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
) -> PeriodTotals:
    """Totals for [start, end): rollups up to the live tail, the tail from the log.

    ``latency=False`` skips the latency histogram (``p95_latency_ms`` is None)."""
    tail_start = live_tail_start()
    split = start if tail_start is None else min(max(start, tail_start), end)
    dims = {"agent": agent, "model": model, "provider": provider, "operation": operation}
    tail = LLMCall.objects.filter(created_at__gte=split, created_at__lt=end)
    exact = {"agent_name": agent, "model": model, "provider": provider, "operation": operation}
    tail = tail.filter(**{k: v for k, v in exact.items() if v})
    rolled = _rolled_totals(start=start, split=split, dims=dims, latency=latency)
    return _combine(rolled, _raw_totals(tail, latency=latency))


def usage_totals(*, filters: DashboardFilters) -> PeriodTotals:
    """Totals of the filtered window, from rollups only (charts and tables agree)."""
    return _rollup_totals(rollups_for(filters))


@dataclass(frozen=True)
class Ranked:
    name: str
    cost: Decimal
    calls: int
    errors: int

    @property
    def cost_per_1k_calls(self) -> Decimal | None:
        return (self.cost * 1000 / self.calls).quantize(Decimal("0.0001")) if self.calls else None


def top_by_cost(*, filters: DashboardFilters, dimension: str, limit: int = 5) -> list[Ranked]:
    """The agents (or models, providers) that spent most in the window."""
    field = DIMENSION_FIELDS[dimension]
    rows = (
        rollups_for(filters)
        .values(field)
        .annotate(cost=Sum("cost"), calls=Sum("calls"), errors=Sum("errors"))
        .order_by("-cost", field)[:limit]
    )
    return [
        Ranked(
            name=r[field] or "(none)", cost=r["cost"] or ZERO, calls=r["calls"], errors=r["errors"]
        )
        for r in rows
    ]


def unpriced_models(*, filters: DashboardFilters) -> list[tuple[str, int]]:
    """Models served without a price: their calls were recorded at cost 0."""
    rows = (
        rollups_for(filters)
        .filter(unpriced_calls__gt=0)
        .values("model")
        .annotate(n=Sum("unpriced_calls"))
        .order_by("-n", "model")
    )
    return [(r["model"] or "(unknown)", r["n"]) for r in rows]


@dataclass(frozen=True)
class Series:
    """One line or stack of a time chart: x are bucket starts, y the values."""

    name: str
    x: list[datetime]
    y: list[float | None]


def _group_sums(
    rows: Iterable[dict], *, width: timedelta, key: str, value: str
) -> dict[str, dict[datetime, Decimal]]:
    out: dict[str, dict[datetime, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for row in rows:
        out[row[key] or "(none)"][bucket_floor(row["bucket_start"], width=width)] += (
            row[value] or ZERO
        )
    return out


def spend_series(*, filters: DashboardFilters, group_by: str, top: int = 8) -> list[Series]:
    """Spend per time bucket, one series per agent, model or provider.

    Beyond the ``top`` biggest spenders the rest is summed as "other" so a
    stacked chart stays legible.
    """
    field = DIMENSION_FIELDS[group_by]
    rows = rollups_for(filters).values("bucket_start", field).annotate(cost=Sum("cost"))
    groups = _group_sums(rows, width=filters.bucket, key=field, value="cost")
    ranked = sorted(groups, key=lambda name: (-sum(groups[name].values()), name))
    buckets = bucket_range(start=filters.start, end=filters.end, width=filters.bucket)
    series = [
        Series(name=name, x=buckets, y=[float(groups[name].get(b, ZERO)) for b in buckets])
        for name in ranked[:top]
    ]
    if rest := ranked[top:]:
        other = [float(sum((groups[n].get(b, ZERO) for n in rest), ZERO)) for b in buckets]
        series.append(Series(name="other", x=buckets, y=other))
    return series


def cumulative_spend(*, filters: DashboardFilters) -> tuple[list[datetime], list[Decimal]]:
    """Running total of spend over the window's buckets (Decimal until charted)."""
    rows = rollups_for(filters).values("bucket_start").annotate(cost=Sum("cost"))
    per_bucket: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        per_bucket[bucket_floor(row["bucket_start"], width=filters.bucket)] += row["cost"] or ZERO
    buckets = bucket_range(start=filters.start, end=filters.end, width=filters.bucket)
    running, totals = ZERO, []
    for bucket in buckets:
        running += per_bucket.get(bucket, ZERO)
        totals.append(running)
    return buckets, totals


def cost_per_1k_series(*, filters: DashboardFilters) -> Series:
    """Spend per thousand calls per bucket: falls when traffic moves to cheaper models."""
    rows = (
        rollups_for(filters).values("bucket_start").annotate(cost=Sum("cost"), calls=Sum("calls"))
    )
    cost: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
    calls: dict[datetime, int] = defaultdict(int)
    for row in rows:
        bucket = bucket_floor(row["bucket_start"], width=filters.bucket)
        cost[bucket] += row["cost"] or ZERO
        calls[bucket] += row["calls"] or 0
    buckets = bucket_range(start=filters.start, end=filters.end, width=filters.bucket)
    values = [float(cost[b] * 1000 / calls[b]) if calls.get(b) else None for b in buckets]
    return Series(name="cost per 1k calls", x=buckets, y=values)


def dimension_values(*, filters: DashboardFilters) -> dict[str, list[str]]:
    """Agents, models and providers seen in the window, for the filter dropdowns."""
    rows = rollups_in(start=filters.start, end=filters.end, granularity=filters.granularity)
    values = {
        name: sorted(v for v in rows.values_list(field, flat=True).distinct() if v)
        for name, field in DIMENSION_FIELDS.items()
    }
    for name, seen in values.items():
        # A shared link may name a value with no traffic in this window: keep it selectable.
        if (current := getattr(filters, name)) and current not in seen:
            seen.insert(0, current)
    return values


def month_forecast(*, spent: Decimal, now: datetime) -> Decimal:
    """Month-end spend if the month goes on at its pace so far (straight line).

    Deliberately simple: early in the month it swings, which the page says.
    """
    start = month_start(now)
    next_month = (start + timedelta(days=32)).replace(day=1)
    elapsed = (now - start).total_seconds()
    if elapsed <= 0:
        return spent
    fraction = Decimal(str(elapsed / (next_month - start).total_seconds()))
    return (spent / fraction).quantize(Decimal("0.0001"))


def spend_rows(*, filters: DashboardFilters) -> Iterable[dict[str, object]]:
    """The current costs view as flat rows (bucket, group, calls, tokens, cost) for export.

    Streams from the database with ``iterator`` so a 30-day export never holds
    every row in memory; cost stays a Decimal string, never a float.
    """
    field = DIMENSION_FIELDS[filters.group]
    rows = (
        rollups_for(filters)
        .values("bucket_start", field)
        .annotate(
            calls=Sum("calls"),
            errors=Sum("errors"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cost=Sum("cost"),
        )
        .order_by("bucket_start", field)
    )
    for row in rows.iterator(chunk_size=2000):
        yield {
            "bucket_start": row["bucket_start"].isoformat(),
            filters.group: row[field],
            "calls": row["calls"],
            "errors": row["errors"],
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
            "cost_usd": str(row["cost"] or ZERO),
        }
