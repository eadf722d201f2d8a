"""Charts and tables over a dashboard window, read from the rollups (costs.usage)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from common.buckets import bucket_floor, bucket_range
from costs.attribution_reads import spend_source
from costs.rollups import STEP
from costs.usage import (
    DIMENSION_FIELDS,
    ZERO,
    UsageFilter,
    granularity_for,
    rollups_for,
    rollups_in,
)
from dashkit.figures import Series
from dashkit.filters import DashboardFilters


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


def _group_sums(
    rows: Iterable[dict], *, width: timedelta, key: str, value: str
) -> dict[str, dict[datetime, Decimal]]:
    out: dict[str, dict[datetime, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for row in rows:
        out[row.get(key) or "(none)"][bucket_floor(row["bucket_start"], width=width)] += (
            row[value] or ZERO
        )
    return out


def spend_series(*, filters: DashboardFilters, group_by: str, top: int = 8) -> list[Series]:
    """Spend per time bucket, one series per agent, model, provider, user or tag.

    Beyond the ``top`` biggest spenders the rest is summed as "other" so a
    stacked chart stays legible. Users and tags read their day rollups
    (costs.attribution_reads), so their buckets are days.
    """
    source = spend_source(filters)
    field = source.column(group_by)
    # Ranked in the database, then only the shown groups read per bucket: a
    # month of users is tens of thousands of (day, user) sums, eight are drawn.
    ranked = source.rows.values(field).annotate(spend=Sum("cost")).order_by("-spend", field)
    names = [row[field] for row in ranked[: top + 1]]
    shown = source.rows.filter(**{f"{field}__in": names[:top]})
    rows = shown.values("bucket_start", field).annotate(spend=Sum("cost"))
    groups = _group_sums(rows, width=source.bucket, key=field, value="spend")
    buckets = bucket_range(start=filters.start, end=filters.end, width=source.bucket)
    series = [
        Series(name=label, x=buckets, y=[float(groups[label].get(b, ZERO)) for b in buckets])
        for label in (name or "(none)" for name in names[:top])
    ]
    if len(names) > top:
        everything = source.rows.values("bucket_start").annotate(spend=Sum("cost"))
        total = _group_sums(everything, width=source.bucket, key="", value="spend")["(none)"]
        other = [
            float(total.get(b, ZERO) - sum((g.get(b, ZERO) for g in groups.values()), ZERO))
            for b in buckets
        ]
        series.append(Series(name="other", x=buckets, y=other))
    return series


def cumulative_spend(*, filters: DashboardFilters) -> tuple[list[datetime], list[Decimal]]:
    """Running total of spend over the window's buckets (Decimal until charted)."""
    source = spend_source(filters)
    rows = source.rows.values("bucket_start").annotate(cost=Sum("cost"))
    per_bucket: dict[datetime, Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        per_bucket[bucket_floor(row["bucket_start"], width=source.bucket)] += row["cost"] or ZERO
    buckets = bucket_range(start=filters.start, end=filters.end, width=source.bucket)
    running, totals = ZERO, []
    for bucket in buckets:
        running += per_bucket.get(bucket, ZERO)
        totals.append(running)
    return buckets, totals


def _sums_per_bucket(
    filters: DashboardFilters, *names: str
) -> tuple[list[datetime], dict[str, dict[datetime, Any]]]:
    """Each named rollup sum per chart bucket of the window (Decimal for money)."""
    source = spend_source(filters)
    rows = source.rows.values("bucket_start").annotate(**{n: Sum(n) for n in names})
    sums: dict[str, dict[datetime, Any]] = {n: defaultdict(int) for n in names}
    for row in rows:
        bucket = bucket_floor(row["bucket_start"], width=source.bucket)
        for name in names:
            sums[name][bucket] += row[name] or 0
    return bucket_range(start=filters.start, end=filters.end, width=source.bucket), sums


def cost_per_1k_series(*, filters: DashboardFilters) -> Series:
    """Spend per thousand calls per bucket: falls when traffic moves to cheaper models."""
    buckets, sums = _sums_per_bucket(filters, "cost", "calls")
    cost, calls = sums["cost"], sums["calls"]
    values = [float(cost[b] * 1000 / calls[b]) if calls.get(b) else None for b in buckets]
    return Series(name="cost per 1k calls", x=buckets, y=values)


def cache_savings_series(*, filters: DashboardFilters) -> tuple[Series, Series, Decimal]:
    """Money the response cache saved per bucket, its hit rate (% of calls), and
    the window's total saved (exact)."""
    buckets, sums = _sums_per_bucket(filters, "saved_cost", "cache_hits", "calls")
    saved, hits, calls = sums["saved_cost"], sums["cache_hits"], sums["calls"]
    return (
        Series(name="saved", x=buckets, y=[float(saved.get(b, ZERO)) for b in buckets]),
        Series(
            name="hit rate",
            x=buckets,
            y=[hits[b] * 100 / calls[b] if calls.get(b) else None for b in buckets],
        ),
        sum(saved.values(), ZERO),
    )


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


def spend_rows(*, filters: DashboardFilters) -> Iterable[dict[str, object]]:
    """The current costs view as flat rows (bucket, group, calls, tokens, cost) for export.

    Streams from the database with ``iterator`` so a 30-day export never holds
    every row in memory; cost stays a Decimal string, never a float.
    """
    source = spend_source(filters)
    field = source.column(filters.group)
    rows = (
        source.rows.values("bucket_start", field)
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


def cost_series(
    *, start: datetime, end: datetime, by: str, filters: UsageFilter | None = None
) -> tuple[list[datetime], dict[str, list[Decimal]]]:
    """Cost per bucket for each agent/model/provider: (bucket starts, series)."""
    granularity = granularity_for(start, end)
    column = DIMENSION_FIELDS[by]
    rows = (
        rollups_in(start=start, end=end, filters=filters)
        .values("bucket_start", column)
        .annotate(total=Sum("cost"))
        .order_by("bucket_start")
    )
    step = STEP[granularity]
    buckets = bucket_range(start=start, end=end, width=step)
    index = {bucket: i for i, bucket in enumerate(buckets)}
    series: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(buckets))
    for row in rows:
        position = index.get(row["bucket_start"].astimezone(UTC))
        if position is not None:
            series[row[column] or "(none)"][position] += row["total"] or ZERO
    return buckets, dict(series)
