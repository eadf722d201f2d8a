"""Writes of budgets: create and validate, and the periodic evaluation.

Enforcement on the hot path lives in ``costs.reservations``; this module is
what the admin, the pages and the periodic task call.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from calls.models import GatewayKey
from costs.alerts import forecast_alert_raise, unpriced_alerts_raise
from costs.budget_rules import normalize_thresholds
from costs.models import Budget, BudgetAction, BudgetAlertEvent, BudgetScope, DeliveryStatus
from costs.notifications import alert_events_schedule
from costs.reservations import budget_cache, counter_reconcile
from costs.selectors import BudgetStatus, budget_status

logger = logging.getLogger(__name__)

# --- create and validate --------------------------------------------------------------


def budget_create(
    *,
    name: str,
    amount: Decimal | str,
    period: str = "monthly",
    scope: str = BudgetScope.GLOBAL,
    scope_value: str = "",
    thresholds: list[Any] | None = None,
    action: str = BudgetAction.ALERT,
    downgrade_model: str = "",
    emails: str = "",
    webhook_url: str = "",
    in_app: bool = True,
    enabled: bool = True,
    gateway_key_id: int | None = None,
    channels: list[dict[str, Any]] | None = None,
) -> Budget:
    """Create a validated budget. ``gateway_key_id`` and ``channels`` are the
    first version's arguments, still accepted: a key id becomes the key's
    prefix, channel dicts become ``emails``/``webhook_url``."""
    if gateway_key_id is not None and not scope_value:
        scope_value = _key_prefix(gateway_key_id)
    for channel in channels or []:
        if channel.get("type") == "email" and not emails:
            emails = ", ".join(channel.get("to") or [])
        elif channel.get("type") == "webhook" and not webhook_url:
            webhook_url = str(channel.get("url") or "")
    budget = Budget(
        name=name,
        amount=Decimal(str(amount)),
        period=period,
        scope=scope,
        scope_value=scope_value,
        thresholds=thresholds if thresholds is not None else [0.5, 0.8, 1.0],
        action=action,
        downgrade_model=downgrade_model,
        emails=emails,
        webhook_url=webhook_url,
        in_app=in_app,
        enabled=enabled,
    )
    budget.full_clean()
    budget.save()
    return budget


def _key_prefix(key_id: int) -> str:
    return GatewayKey.objects.filter(id=key_id).values_list("prefix", flat=True).first() or ""


def budgets_changed(*, budget_id: int | None = None) -> None:
    """Forget this process's cached budget list after a Budget save or delete,
    now and again on commit (a request in between could reload the old row)."""
    budget_cache.clear()
    transaction.on_commit(budget_cache.clear, robust=True)


# --- evaluate -------------------------------------------------------------------------------


def budgets_evaluate(*, at: datetime | None = None) -> list[BudgetAlertEvent]:
    """The periodic pass: reconcile each budget's counter with the log, record
    an alert event for every threshold crossed this period, raise forecast and
    unpriced-model alerts, and (re)queue deliveries. Returns the new events.

    The unique (budget, period_start, threshold) constraint makes a second
    evaluation, or a concurrent one in another worker, a no-op."""
    now = at or timezone.now()
    created: list[BudgetAlertEvent] = []
    for budget in Budget.objects.filter(enabled=True):
        counter_reconcile(budget=budget, at=now)
        status = budget_status(budget=budget, at=now)
        created.extend(_events_for(status))
        forecast_alert_raise(status=status, at=now)
    unpriced_alerts_raise(at=now)
    alert_events_schedule(event_ids=[event.id for event in created])
    return created


def _events_for(status: BudgetStatus) -> list[BudgetAlertEvent]:
    events = []
    budget = status.budget
    for threshold in normalize_thresholds(budget.thresholds or []):
        limit = Decimal(str(threshold))
        if status.fraction < limit:
            break
        event, created = BudgetAlertEvent.objects.get_or_create(
            budget=budget,
            period_start=status.period_start,
            threshold=limit,
            defaults={"spent": status.spend, "amount": budget.amount, **_channel_states(budget)},
        )
        if created:
            logger.info("budget %s crossed %s%%", budget.id, limit * 100)
            events.append(event)
    return events


def _channel_states(budget: Budget) -> dict[str, str]:
    def state(configured: bool) -> str:
        return DeliveryStatus.PENDING if configured else DeliveryStatus.NONE

    return {
        "email_status": state(bool(budget.email_list)),
        "webhook_status": state(bool(budget.webhook_url)),
        "in_app_status": state(budget.in_app),
    }
