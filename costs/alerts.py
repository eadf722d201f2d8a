"""Writes of in-app alerts: budget thresholds, forecasts, unpriced models.

Alerts that must appear once per something (a model per day, a budget per
period) carry a ``dedupe_key`` with a unique index, so two workers raising
the same alert at once still produce one row.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from calls.models import LLMCall
from costs.models import AlertLevel, Budget, InAppAlert
from costs.periods import period_bounds
from costs.selectors import BudgetStatus

# A projection this early in a period is one call extrapolated: not worth a page.
FORECAST_MIN_ELAPSED = 0.1


def in_app_alert_raise(
    *,
    title: str,
    message: str = "",
    level: str = AlertLevel.WARNING,
    budget: Budget | None = None,
    dedupe_key: str | None = None,
) -> InAppAlert | None:
    """Create the alert; None if one with ``dedupe_key`` already exists."""
    if dedupe_key and InAppAlert.objects.filter(dedupe_key=dedupe_key).exists():
        return None
    try:
        with transaction.atomic():
            return InAppAlert.objects.create(
                title=title[:300],
                message=message,
                level=level,
                budget=budget,
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        return None  # another worker raised it first


def in_app_alert_resolve(*, alert_id: int, at: datetime | None = None, by: str = "") -> bool:
    """Mark an alert resolved; False if it was already."""
    updated = InAppAlert.objects.filter(id=alert_id, resolved_at=None).update(
        resolved_at=at or timezone.now(), resolved_by=by[:150]
    )
    return updated == 1


def in_app_alert_acknowledge(*, alert_id: int, by: str, at: datetime | None = None) -> bool:
    """Note who is on it; False if it was already acknowledged or resolved.

    A conditional update, so two people acknowledging at once record one name."""
    updated = InAppAlert.objects.filter(id=alert_id, acknowledged_at=None, resolved_at=None).update(
        acknowledged_at=at or timezone.now(), acknowledged_by=by[:150]
    )
    return updated == 1


def forecast_alert_raise(*, status: BudgetStatus, at: datetime) -> InAppAlert | None:
    """Warn once per period when the run rate projects past the amount while
    spend is still under it (past it, the threshold alerts speak instead)."""
    budget = status.budget
    if status.forecast is None or status.spend >= budget.amount:
        return None
    if status.forecast <= budget.amount or status.elapsed_fraction(at) < FORECAST_MIN_ELAPSED:
        return None
    return in_app_alert_raise(
        title=f"Budget '{budget.name}' is on track to exceed ${budget.amount:.2f}",
        message=(
            f"${status.spend:.2f} spent so far this {budget.period} period; at this rate it "
            f"ends near ${status.forecast:.2f} (resets {status.period_end:%Y-%m-%d %H:%M} UTC)."
        ),
        level=AlertLevel.WARNING,
        budget=budget,
        dedupe_key=f"forecast:{budget.id}:{status.period_start.isoformat()}",
    )


def unpriced_alerts_raise(*, at: datetime) -> list[InAppAlert]:
    """One alert per unpriced model per (UTC) day with calls: they are served
    and recorded at $0, which silently undercounts spend and budgets."""
    start, end = period_bounds("daily", at=at)
    models = (
        LLMCall.objects.filter(priced=False, created_at__gte=start, created_at__lt=end)
        .values_list("model", flat=True)
        .distinct()
    )
    raised = []
    for model in sorted(set(models)):
        alert = in_app_alert_raise(
            title=f"No price for model {model or '(unnamed)'}",
            message=(
                "Calls to this model are recorded at $0, so spend and budgets undercount. "
                "Add a ModelPrice row, then run `manage.py reprice --since` for past calls."
            ),
            level=AlertLevel.WARNING,
            dedupe_key=f"unpriced:{model}:{start.date().isoformat()}",
        )
        if alert is not None:
            raised.append(alert)
    return raised
