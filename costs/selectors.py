"""Reads for cost analytics and budgets.

Charts and summaries read rollups, never the raw log. The one exception is
budget spend, which must be current to the call: it reads complete hours and
minutes from the rollups and only the short tail the rollups have not
reached yet from the log (see ``budget_spend``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from calls.models import LLMCall
from common.buckets import bucket_floor, month_bounds
from costs.budget_rules import LOG_ONLY_SCOPES
from costs.models import (
    Budget,
    BudgetAlertEvent,
    BudgetCounter,
    BudgetScope,
    Granularity,
    InAppAlert,
    UsageRollup,
)
from costs.periods import period_bounds
from costs.pricing import COST_QUANTUM
from costs.rollups import STEP, rollup_position
from costs.usage import DIMENSION_FIELDS

ZERO = Decimal(0)
# Rollups are trusted for budget spend only this long after the cursor passed
# them: a call that started in the bucket may still be streaming.
LATE_MARGIN = timedelta(minutes=15)
# --- budgets ------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    period_start: datetime
    period_end: datetime
    spend: Decimal
    reserved: Decimal = ZERO
    forecast: Decimal | None = None

    @property
    def spent(self) -> Decimal:
        return self.spend

    @property
    def fraction(self) -> Decimal:
        return self.spend / self.budget.amount

    @property
    def percent(self) -> float:
        return float(self.fraction * 100)

    @property
    def remaining(self) -> Decimal:
        return max(self.budget.amount - self.spend, ZERO)

    @property
    def exhausted(self) -> bool:
        return self.spend >= self.budget.amount

    @property
    def on_track_to_exceed(self) -> bool:
        return self.forecast is not None and self.forecast > self.budget.amount

    def elapsed_fraction(self, at: datetime) -> float:
        length = (self.period_end - self.period_start).total_seconds()
        return min(max((at - self.period_start).total_seconds() / length, 0.0), 1.0)


def budget_spend(*, budget: Budget, at: datetime | None = None) -> BudgetStatus:
    """Spend of the budget's scope in the period containing ``at``.

    Complete hours come from hour rollups, the complete minutes of the hour
    after them from minute rollups, and only the rest (LATE_MARGIN plus the
    rollup job's interval) from the raw log: the answer includes the call
    that finished a moment ago, and the raw read stays a quarter of an hour
    of calls however busy the gateway is (it was up to 75 minutes of calls
    with hour rollups alone). Key budgets and periods that do not start on a
    UTC hour (zones like +05:30) read the log only: rollups carry neither the
    key nor sub-hour offsets.
    """
    now = at or timezone.now()
    start, end = period_bounds(budget.period, at=now)
    split = _rollup_split(budget, start, min(now, end))
    spend = _rolled_spend(_scope_q(budget), start=start, split=split)
    raw = LLMCall.objects.filter(_scope_q(budget), created_at__gte=split, created_at__lt=end)
    spend += raw.aggregate(total=Sum("cost"))["total"] or ZERO
    return BudgetStatus(budget=budget, period_start=start, period_end=end, spend=spend)


def _rolled_spend(scope: Q, *, start: datetime, split: datetime) -> Decimal:
    """Rollup spend of [start, split) in one query: hour rows up to the hour
    holding ``split``, minute rows from there (``split`` is on a minute)."""
    if split <= start:
        return ZERO
    hour = max(bucket_floor(split, width=STEP[Granularity.HOUR]), start)
    rows = UsageRollup.objects.filter(scope).filter(
        Q(granularity=Granularity.HOUR, bucket_start__gte=start, bucket_start__lt=hour)
        | Q(granularity=Granularity.MINUTE, bucket_start__gte=hour, bucket_start__lt=split)
    )
    return rows.aggregate(total=Sum("cost"))["total"] or ZERO


def _rollup_split(budget: Budget, start: datetime, until: datetime) -> datetime:
    """Where budget spend switches from rollups to the log: the last minute
    the rollups are trusted to be complete for (LATE_MARGIN behind the cursor)."""
    position = rollup_position()
    if budget.scope in LOG_ONLY_SCOPES or position is None:
        return start
    if start != bucket_floor(start, width=STEP[Granularity.HOUR]):
        return start
    split = bucket_floor(min(position, until) - LATE_MARGIN, width=STEP[Granularity.MINUTE])
    return max(split, start)


def fresh_split(*, start: datetime, until: datetime) -> datetime:
    """Where reads that must be current switch from hour rollups to the raw log:
    the last hour the rollups are trusted to be complete for (or ``start``)."""
    position = rollup_position()
    if position is None or start != bucket_floor(start, width=STEP[Granularity.HOUR]):
        return start
    split = bucket_floor(min(position, until) - LATE_MARGIN, width=STEP[Granularity.HOUR])
    return max(split, start)


def usage_current_by(
    *, start: datetime, end: datetime, by: str
) -> dict[str, tuple[int, int, Decimal]]:
    """(calls, tokens, cost) per agent/model/provider, current to the last
    call: hour rollups up to ``fresh_split``, the raw log after it."""
    column = DIMENSION_FIELDS[by]
    split = fresh_split(start=start, until=min(timezone.now(), end))
    totals: dict[str, list] = defaultdict(lambda: [0, 0, ZERO])
    rolled = UsageRollup.objects.filter(
        granularity=Granularity.HOUR, bucket_start__gte=start, bucket_start__lt=split
    ).values(column)
    rolled = rolled.annotate(
        n=Sum("calls"), t=Sum("prompt_tokens") + Sum("completion_tokens"), c=Sum("cost")
    )
    raw = LLMCall.objects.filter(created_at__gte=split, created_at__lt=end).values(column)
    raw = raw.annotate(n=Count("id"), t=Sum("total_tokens"), c=Sum("cost"))
    for row in [*rolled, *raw]:
        entry = totals[row[column]]
        entry[0] += row["n"] or 0
        entry[1] += row["t"] or 0
        entry[2] += row["c"] or ZERO
    return {name: (n, t, c) for name, (n, t, c) in totals.items()}


def _scope_q(budget: Budget) -> Q:
    if budget.scope == BudgetScope.AGENT:
        return Q(agent_name=budget.scope_value)
    if budget.scope == BudgetScope.MODEL:
        return Q(model=budget.scope_value)
    if budget.scope == BudgetScope.KEY:
        return Q(key_prefix=budget.scope_value)
    if budget.scope == BudgetScope.USER:
        return Q(end_user=budget.scope_value)
    if budget.scope == BudgetScope.TAG:
        name, _, value = budget.scope_value.partition("=")
        if connection.vendor == "postgresql":
            return Q(tags__contains={name: value})  # what the GIN index on tags answers
        return Q(**{f"tags__{name}": value})
    return Q()


def budget_forecast(*, spend: Decimal, start: datetime, end: datetime, now: datetime) -> Decimal:
    """Projected spend at the end of the period, from the run rate so far.

    Method: linear extrapolation of the period-to-date spend, spend / elapsed
    x period length. Elapsed time is floored at 10 % of the period so the
    first call of a month is not projected into a fortune; at the end of the
    period the projection is the spend itself. Simple on purpose: it reacts to
    a change of pace within days, and people can check it by hand.
    """
    length = end - start
    elapsed = min(max(now - start, length / 10), length)
    projected = spend * Decimal(length.total_seconds()) / Decimal(elapsed.total_seconds())
    return projected.quantize(Decimal("0.0001"))


def month_forecast(*, spend: Decimal, now: datetime) -> Decimal:
    """The UTC month's end spend: ``budget_forecast`` over the calendar month."""
    start, end = month_bounds(now)
    return budget_forecast(spend=spend, start=start, end=end, now=now)


def budget_status(*, budget: Budget, at: datetime | None = None) -> BudgetStatus:
    """Spend, in-flight reservations and forecast of one budget, this period."""
    now = at or timezone.now()
    status = budget_spend(budget=budget, at=now)
    reserved = (
        BudgetCounter.objects.filter(budget=budget, period_start=status.period_start)
        .values_list("reserved", flat=True)
        .first()
    )
    forecast = budget_forecast(
        spend=status.spend, start=status.period_start, end=status.period_end, now=now
    )
    return BudgetStatus(
        budget=budget,
        period_start=status.period_start,
        period_end=status.period_end,
        spend=status.spend,
        reserved=max(reserved or ZERO, ZERO),
        forecast=forecast,
    )


def budget_statuses(
    *, at: datetime | None = None, enabled_only: bool = False
) -> list[BudgetStatus]:
    budgets = Budget.objects.order_by("name")
    if enabled_only:
        budgets = budgets.filter(enabled=True)
    return [budget_status(budget=budget, at=at) for budget in budgets]


def budget_statuses_for_key(*, agent_name: str, key_prefix: str) -> list[BudgetStatus]:
    """The enabled budgets that limit calls made with one key: global ones,
    its agent's and its own (by prefix). Model budgets depend on the call's
    model, not the key, so they are left out."""
    budgets = Budget.objects.filter(enabled=True).filter(
        Q(scope=BudgetScope.GLOBAL)
        | Q(scope=BudgetScope.KEY, scope_value=key_prefix)
        | Q(scope=BudgetScope.AGENT, scope_value=agent_name)
    )
    return [budget_status(budget=budget) for budget in budgets.order_by("name")]


def budget_status_json(status: BudgetStatus) -> dict[str, object]:
    """A status as JSON-ready data; money as decimal strings (JSON numbers are
    floats in most clients)."""
    budget = status.budget
    return {
        "name": budget.name,
        "scope": budget.scope,
        "scope_value": budget.scope_value,
        "period": budget.period,
        "amount": str(budget.amount),
        "spent": _money_text(status.spend),
        "reserved": _money_text(status.reserved),
        "remaining": _money_text(status.remaining),
        "percent": str((status.fraction * 100).quantize(Decimal("0.01"))),
        "period_start": status.period_start.isoformat(),
        "period_end": status.period_end.isoformat(),
        "action": budget.action,
        "forecast": str(status.forecast) if status.forecast is not None else None,
    }


def _money_text(value: Decimal) -> str:
    """At the call log's precision, in plain notation ("0.0000000000", never "0E-10");
    also drops the float noise SQLite's SUM() adds to decimals."""
    return f"{value.quantize(COST_QUANTUM):f}"


def alert_events_recent(*, limit: int = 20) -> list[BudgetAlertEvent]:
    return list(BudgetAlertEvent.objects.select_related("budget").order_by("-created_at")[:limit])


def in_app_alerts_active(*, limit: int = 50) -> list[InAppAlert]:
    """Unresolved in-app alerts, newest first."""
    rows = InAppAlert.objects.filter(resolved_at=None).select_related("budget")
    return list(rows.order_by("-created_at")[:limit])
