"""Budget views for the dashboards, adapted from the costs app's selectors.

Budgets, periods, spend and alerts belong to ``costs`` (costs.selectors);
this module only shapes them for cards and burn-down charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils.safestring import SafeString

from costs import selectors as costs_selectors
from costs.models import LOG_ONLY_SCOPES, BudgetAlertEvent, BudgetScope
from infra_dashboard import figures
from infra_dashboard.filters import DashboardFilters
from infra_dashboard.selectors import cumulative_spend


@dataclass(frozen=True)
class BudgetLine:
    name: str
    period: str
    amount: Decimal
    spent: Decimal
    forecast: Decimal | None

    @property
    def used_pct(self) -> float:
        return float(self.spent / self.amount * 100) if self.amount else 0.0

    @property
    def forecast_pct(self) -> float | None:
        if self.forecast is None or not self.amount:
            return None
        return float(self.forecast / self.amount * 100)


def period_forecast(*, spent: Decimal, start: datetime, end: datetime, now: datetime) -> Decimal:
    """Spend at period end if the pace so far continues (a straight line)."""
    elapsed = (now - start).total_seconds()
    if elapsed <= 0:
        return spent
    return (spent * Decimal(str((end - start).total_seconds() / elapsed))).quantize(
        Decimal("0.0001")
    )


def overview_budgets(*, now: datetime) -> list[BudgetLine]:
    """Each enabled budget's spend in its current period, with its forecast."""
    return [
        BudgetLine(
            name=s.budget.name,
            period=s.budget.period,
            amount=s.budget.amount,
            spent=s.spend,
            forecast=period_forecast(
                spent=s.spend, start=s.period_start, end=s.period_end, now=now
            ),
        )
        for s in costs_selectors.budget_statuses(at=now, enabled_only=True)
    ]


def overview_alerts() -> list[BudgetAlertEvent]:
    """Alerts fired in their budget's current period: the ones still relevant."""
    current = {
        s.budget.id: s.period_start for s in costs_selectors.budget_statuses(enabled_only=True)
    }
    return [
        e
        for e in costs_selectors.alert_events_recent(limit=50)
        if current.get(e.budget_id) == e.period_start
    ]


def _budget_filters(status: costs_selectors.BudgetStatus, now: datetime) -> DashboardFilters:
    budget = status.budget
    dims = {}
    if budget.scope == BudgetScope.AGENT:
        dims["agent"] = budget.scope_value
    elif budget.scope == BudgetScope.MODEL:
        dims["model"] = budget.scope_value
    return DashboardFilters(range="custom", start=status.period_start, end=now, **dims)


def burn_downs(
    *, statuses: list[costs_selectors.BudgetStatus], now: datetime | None = None
) -> dict[int, SafeString]:
    """Per budget: cumulative spend in the current period, its amount and forecast.

    Key-scoped budgets have no curve: rollups do not carry the key.
    """
    from django.utils import timezone

    now = now or timezone.now()
    out: dict[int, SafeString] = {}
    for status in statuses:
        if status.budget.scope in LOG_ONLY_SCOPES:
            continue
        filters = _budget_filters(status, now)
        x, spend = cumulative_spend(filters=filters)
        if not x:
            continue
        end_value = period_forecast(
            spent=spend[-1], start=status.period_start, end=status.period_end, now=now
        )
        out[status.budget.id] = figures.cumulative_against_budgets(
            x=x,
            spend=spend,
            budgets=[("budget", status.budget.amount)],
            forecast=([x[-1], status.period_end], [spend[-1], end_value]) if spend[-1] else None,
        )
    return out


def forecast_line(
    *, x: list[datetime], spend: list[Decimal], until: datetime
) -> tuple[list[datetime], list[Decimal]] | None:
    """Straight-line continuation of the window's pace to the end of the month."""
    if len(x) < 2 or not spend[-1]:
        return None
    from infra_dashboard.selectors import month_start

    end = (month_start(until) + timedelta(days=32)).replace(day=1)
    elapsed = (x[-1] - x[0]).total_seconds()
    if elapsed <= 0 or end <= x[-1]:
        return None
    rate = spend[-1] / Decimal(str(elapsed))
    projected = spend[-1] + rate * Decimal(str((end - x[-1]).total_seconds()))
    return [x[-1], end], [spend[-1], projected.quantize(Decimal("0.0001"))]
