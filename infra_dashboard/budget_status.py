"""Budget reads the overview shows, adapted from the costs app.

Budgets, alerts and forecasts belong to ``costs``; this module only shapes
what the overview cards need, so the cards do not depend on how costs stores
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


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
    """Each budget's spend in its current period (none until costs provides budgets)."""
    return []


def overview_alerts() -> list[object]:
    """Alerts fired in the current periods (none until costs provides alerts)."""
    return []
