"""Budget views for the dashboards, adapted from the costs app's selectors.

Budgets, periods, spend and alerts belong to ``costs`` (costs.selectors);
this module only shapes them for cards and burn-down charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.safestring import SafeString

from common.buckets import month_bounds
from costs import selectors as costs_selectors
from costs.budget_rules import LOG_ONLY_SCOPES
from costs.models import BudgetAlertEvent, BudgetScope
from costs.selectors import budget_forecast
from costs.usage_series import cumulative_spend
from dashkit import figures
from dashkit.filters import DashboardFilters


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


def overview_budgets(*, now: datetime) -> list[BudgetLine]:
    """Each enabled budget's spend in its current period, with its forecast."""
    return [
        BudgetLine(
            name=s.budget.name,
            period=s.budget.period,
            amount=s.budget.amount,
            spent=s.spend,
            forecast=s.forecast,
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

    Key, end-user and tag budgets have no curve: rollups do not carry them.
    """
    now = now or timezone.now()
    out: dict[int, SafeString] = {}
    for status in statuses:
        if status.budget.scope in LOG_ONLY_SCOPES:
            continue
        filters = _budget_filters(status, now)
        x, spend = cumulative_spend(filters=filters)
        if not x:
            continue
        # The budget's own forecast (costs.selectors.budget_forecast), as the
        # overview and /api/v1/budgets show it.
        end_value = status.forecast if status.forecast is not None else spend[-1]
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
    """The window's pace continued to the end of the month (budget_forecast's method)."""
    if len(x) < 2 or not spend[-1]:
        return None
    end = month_bounds(until)[1]
    if end <= x[-1]:
        return None
    projected = budget_forecast(spend=spend[-1], start=x[0], end=end, now=x[-1])
    return [x[-1], end], [spend[-1], projected]
