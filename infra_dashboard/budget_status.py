"""Budget reads the overview shows, adapted from the costs app.

Budgets, alerts and forecasts belong to ``costs``; this module only shapes
what the overview cards need, so the cards do not depend on how costs stores
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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


def forecast_line(
    *, x: list[datetime], spend: list[Decimal], until: datetime
) -> tuple[list[datetime], list[Decimal]] | None:
    """Straight-line continuation of the window's pace to the end of the month.

    Starts at the last point so the dashed line visibly continues the spend.
    """
    if len(x) < 2 or not spend[-1]:
        return None
    from infra_dashboard.selectors import month_start

    start = month_start(until)
    end = (start + timedelta(days=32)).replace(day=1)
    elapsed = (x[-1] - x[0]).total_seconds()
    if elapsed <= 0 or end <= x[-1]:
        return None
    rate = spend[-1] / Decimal(str(elapsed))
    projected = spend[-1] + rate * Decimal(str((end - x[-1]).total_seconds()))
    return [x[-1], end], [spend[-1], projected.quantize(Decimal("0.0001"))]


def recommendations() -> list[dict[str, object]]:
    """Cost recommendations with estimated savings (none until costs provides them)."""
    return []
