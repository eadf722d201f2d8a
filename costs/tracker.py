"""The seed's CostTracker API, kept for existing agents, backed by the database.

Budget alerts added here become ``Budget`` rows, so they are evaluated,
delivered and shown on the budgets page like any other; summaries read
the same rollups as the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.utils import timezone

from costs.budget_rules import normalize_thresholds
from costs.budgets import budget_create
from costs.exports import calls_csv_lines, calls_json_chunks
from costs.models import Budget, BudgetAction, BudgetScope
from costs.periods import period_bounds
from costs.recommendations import recommendations_for, what_if_table
from costs.selectors import budget_forecast, budget_statuses, usage_current_by
from costs.usage import UsageFilter


class CostPeriod(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


@dataclass
class BudgetAlert:
    """The seed's alert: fire once ``threshold_percentage`` (0–1) of
    ``budget_amount`` is spent in ``period``. Optionally limited to an agent
    or model; ``block=True`` also refuses calls once the budget is spent."""

    name: str
    threshold_percentage: float
    period: CostPeriod
    budget_amount: float | Decimal
    agent_name: str | None = None
    model: str | None = None
    block: bool = False
    channels: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CostSummary:
    """Spend in one period so far. ``by_*`` map a name to its cost (Decimal)."""

    period: CostPeriod
    start: datetime
    end: datetime
    total_cost: Decimal
    request_count: int
    total_tokens: int
    by_model: dict[str, Decimal]
    by_agent: dict[str, Decimal]
    by_provider: dict[str, Decimal]

    @property
    def average_cost_per_request(self) -> Decimal:
        return self.total_cost / self.request_count if self.request_count else Decimal(0)

    # The first version's names, kept for callers written against it.
    @property
    def total_requests(self) -> int:
        return self.request_count

    @property
    def cost_by_model(self) -> dict[str, Decimal]:
        return self.by_model

    @property
    def cost_by_agent(self) -> dict[str, Decimal]:
        return self.by_agent


@dataclass(frozen=True)
class Forecast:
    period: CostPeriod
    start: datetime
    end: datetime
    spent: Decimal
    projected: Decimal  # see costs.selectors.budget_forecast for the method


class CostTracker:
    def add_budget_alert(self, alert: BudgetAlert) -> Budget:
        """Create an alert-only budget (``block=True``: a blocking one), or update
        the one with the same name, so an agent that registers its alert at every
        start does not pile up rows."""
        scope, value = BudgetScope.GLOBAL, ""
        if alert.agent_name:
            scope, value = BudgetScope.AGENT, alert.agent_name
        elif alert.model:
            scope, value = BudgetScope.MODEL, alert.model
        fields: dict[str, Any] = {
            "amount": Decimal(str(alert.budget_amount)),
            "period": CostPeriod(alert.period).value,
            "scope": scope,
            "scope_value": value,
            "thresholds": normalize_thresholds([alert.threshold_percentage, 1]),
            "action": BudgetAction.BLOCK if alert.block else BudgetAction.ALERT,
        }
        existing = Budget.objects.filter(name=alert.name).first()
        if existing is None:
            return budget_create(name=alert.name, channels=alert.channels, **fields)
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.full_clean()
        existing.save()
        return existing

    def get_cost_summary(
        self, period: CostPeriod = CostPeriod.DAILY, *, at: datetime | None = None
    ) -> CostSummary:
        """Current to the last call: rolled-up hours plus the raw tail."""
        start, end = period_bounds(CostPeriod(period).value, at=at or timezone.now())
        by_model = usage_current_by(start=start, end=end, by="model")
        by_agent = usage_current_by(start=start, end=end, by="agent")
        by_provider = usage_current_by(start=start, end=end, by="provider")
        return CostSummary(
            period=CostPeriod(period),
            start=start,
            end=end,
            total_cost=sum((c for _, _, c in by_model.values()), Decimal(0)),
            request_count=sum(n for n, _, _ in by_model.values()),
            total_tokens=sum(t for _, t, _ in by_model.values()),
            by_model={name: c for name, (_, _, c) in by_model.items()},
            by_agent={name: c for name, (_, _, c) in by_agent.items()},
            by_provider={name: c for name, (_, _, c) in by_provider.items()},
        )

    def forecast(self, period: CostPeriod = CostPeriod.MONTHLY) -> Forecast:
        """Projected end-of-period spend of all traffic from the run rate so far."""
        now = timezone.now()
        summary = self.get_cost_summary(period, at=now)
        projected = budget_forecast(
            spend=summary.total_cost, start=summary.start, end=summary.end, now=now
        )
        return Forecast(summary.period, summary.start, summary.end, summary.total_cost, projected)

    def get_budget_status(self) -> list[dict[str, Any]]:
        return [
            {
                "name": s.budget.name,
                "period": s.budget.period,
                "budget_amount": s.budget.amount,
                "current_spend": s.spend,
                "percentage_used": s.fraction,
                "exhausted": s.exhausted,
                "forecast": s.forecast,
            }
            for s in budget_statuses(enabled_only=True)
        ]

    def get_cost_optimization_recommendations(self, *, days: int = 7) -> list[dict[str, object]]:
        end = timezone.now()
        advice = [
            a.as_dict() for a in recommendations_for(start=end - timedelta(days=days), end=end)
        ]
        table = self.get_what_if_table(days=30)
        savings = [-Decimal(row["difference"]) for row in table if Decimal(row["difference"]) < 0]
        if savings:
            advice.append(
                {
                    "type": "what_if",
                    "title": "The last 30 days re-priced under every priced model",
                    "description": "Real token usage at each model's current price; quality "
                    "is not considered, so read it as an upper bound of what a switch saves.",
                    "agent": "",
                    "model": "",
                    "estimated_monthly_savings": str(max(savings)),
                    "table": table,
                }
            )
        return advice

    def get_what_if_table(self, *, days: int = 30) -> list[dict[str, object]]:
        """The last ``days`` of real token usage re-priced under every priced model."""
        end = timezone.now()
        actual, rows = what_if_table(start=end - timedelta(days=days), end=end)
        return [
            {
                "provider": row.provider,
                "model": row.model,
                "cost": str(row.cost),
                "actual_cost": str(actual),
                "difference": str(row.difference),
            }
            for row in rows
        ]

    def export(
        self,
        *,
        start: datetime,
        end: datetime,
        format: str = "csv",
        agent: str = "",
        model: str = "",
        provider: str = "",
    ) -> Iterator[str]:
        """The calls in [start, end) as streamed CSV lines or JSON text chunks."""
        filters = UsageFilter(agent=agent, model=model, provider=provider)
        if format == "json":
            return calls_json_chunks(start=start, end=end, filters=filters)
        return calls_csv_lines(start=start, end=end, filters=filters)
