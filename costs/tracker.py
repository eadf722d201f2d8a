"""The seed's CostTracker API, kept for existing agents, backed by the database.

Budget alerts added here become ``Budget`` rows, so they are evaluated,
delivered and shown on the budgets page like any other; summaries read
the same rollups as the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.utils import timezone

from costs.budgets import budget_create, normalize_thresholds
from costs.models import Budget, BudgetAction, BudgetScope
from costs.periods import period_bounds
from costs.recommendations import recommendations_for
from costs.selectors import budget_statuses, usage_current_by


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
    period: CostPeriod
    start: datetime
    end: datetime
    total_cost: Decimal
    total_requests: int
    total_tokens: int
    cost_by_model: dict[str, Decimal]
    cost_by_agent: dict[str, Decimal]

    @property
    def average_cost_per_request(self) -> Decimal:
        return self.total_cost / self.total_requests if self.total_requests else Decimal(0)


class CostTracker:
    def add_budget_alert(self, alert: BudgetAlert) -> Budget:
        """Create the budget, or update the one with the same name (idempotent,
        so an agent that registers its alert at every start does not pile up rows)."""
        scope, value = BudgetScope.GLOBAL, ""
        if alert.agent_name:
            scope, value = BudgetScope.AGENT, alert.agent_name
        elif alert.model:
            scope, value = BudgetScope.MODEL, alert.model
        fields = {
            "amount": Decimal(str(alert.budget_amount)),
            "period": CostPeriod(alert.period).value,
            "scope": scope,
            "scope_value": value,
            "thresholds": normalize_thresholds([alert.threshold_percentage, 1]),
            "action": BudgetAction.BLOCK if alert.block else BudgetAction.ALERT,
            "channels": alert.channels,
        }
        existing = Budget.objects.filter(name=alert.name).first()
        if existing is None:
            return budget_create(name=alert.name, **fields)
        for name, value in fields.items():
            setattr(existing, name, value)
        existing.full_clean()
        existing.save()
        return existing

    def get_cost_summary(
        self, period: CostPeriod = CostPeriod.DAILY, *, at: datetime | None = None
    ) -> CostSummary:
        start, end = period_bounds(CostPeriod(period).value, at=at or timezone.now())
        by_model = usage_current_by(start=start, end=end, by="model")
        by_agent = usage_current_by(start=start, end=end, by="agent")
        return CostSummary(
            period=CostPeriod(period),
            start=start,
            end=end,
            total_cost=sum((c for _, _, c in by_model.values()), Decimal(0)),
            total_requests=sum(n for n, _, _ in by_model.values()),
            total_tokens=sum(t for _, t, _ in by_model.values()),
            cost_by_model={name: c for name, (_, _, c) in by_model.items()},
            cost_by_agent={name: c for name, (_, _, c) in by_agent.items()},
        )

    def get_budget_status(self) -> list[dict[str, Any]]:
        return [
            {
                "name": s.budget.name,
                "period": s.budget.period,
                "budget_amount": s.budget.amount,
                "current_spend": s.spend,
                "percentage_used": s.fraction,
                "exhausted": s.exhausted,
            }
            for s in budget_statuses(enabled_only=True)
        ]

    def get_cost_optimization_recommendations(self, *, days: int = 7) -> list[dict[str, object]]:
        end = timezone.now()
        advice = recommendations_for(start=end - timedelta(days=days), end=end)
        return [item.as_dict() for item in advice]
