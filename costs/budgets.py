"""Writes of budgets: create and validate, and the periodic evaluation.

Enforcement on the hot path lives in ``costs.reservations``; this module is
what the admin, the pages and the periodic task call.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http.request import validate_host
from django.utils import timezone

from costs.models import Budget, BudgetAction, BudgetAlertEvent, BudgetScope, DeliveryStatus
from costs.reservations import budget_cache, counter_reconcile
from costs.selectors import BudgetStatus, budget_status

logger = logging.getLogger(__name__)

MAX_THRESHOLD = Decimal(10)  # 1000 %: "tell me when we are at ten times the plan"


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
    from llm_gateway.models import GatewayKey

    return GatewayKey.objects.filter(id=key_id).values_list("prefix", flat=True).first() or ""


def normalize_thresholds(values: list[Any]) -> list[float]:
    """Sorted, de-duplicated fractions as JSON numbers. Equality is decided on
    their decimal spelling ("0.80" == 0.8), so the alert event's Decimal key
    never depends on binary rounding."""
    try:
        fractions = {Decimal(str(value)).normalize() for value in values}
    except (InvalidOperation, TypeError, ValueError) as exc:
        raise ValidationError({"thresholds": "Thresholds must be numbers like 0.8."}) from exc
    if any(not Decimal(0) < f <= MAX_THRESHOLD for f in fractions):
        raise ValidationError(
            {"thresholds": "Each threshold is a fraction above 0 and at most 10 (1000 %)."}
        )
    return [float(f) for f in sorted(fractions)]


def budget_validate(budget: Budget) -> None:
    """The cross-field rules, shared by budget_create, the page form and the admin."""
    errors: dict[str, str] = {}
    if budget.scope != BudgetScope.GLOBAL and not budget.scope_value:
        errors["scope_value"] = (
            "Name the agent or model (or the gateway key's prefix, the end user, or the "
            "tag as name=value) this budget limits."
        )
    elif budget.scope == BudgetScope.TAG and not _tag_scope_ok(budget.scope_value):
        errors["scope_value"] = "A tag budget names one tag as name=value, e.g. team=search."
    if budget.amount is not None and budget.amount <= 0:
        errors["amount"] = "The amount must be more than $0."
    if budget.action == BudgetAction.DOWNGRADE and not budget.downgrade_model:
        errors["downgrade_model"] = "Choose the model calls are downgraded to."
    if budget.action != BudgetAction.DOWNGRADE and budget.downgrade_model:
        errors["downgrade_model"] = "Only a downgrade budget has a downgrade model."
    if bad := [a for a in budget.email_list if not _email_ok(a)]:
        errors["emails"] = f"Not an email address: {', '.join(bad)}."
    if budget.webhook_url and (problem := webhook_url_problem(budget.webhook_url)):
        errors["webhook_url"] = problem
    if not isinstance(budget.thresholds, list) or not budget.thresholds:
        errors["thresholds"] = "A list of fractions such as [0.5, 0.8, 1.0]."
    if errors:
        raise ValidationError(errors)
    budget.thresholds = normalize_thresholds(budget.thresholds)


def _email_ok(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def webhook_url_problem(url: str) -> str:
    """Why ``url`` cannot be a webhook, or "" if it can: http(s) only, and never
    the gateway itself (a host it serves, per ALLOWED_HOSTS), which would let
    an alert call the gateway's own endpoints."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Use an http:// or https:// URL."
    served = [h for h in settings.ALLOWED_HOSTS if h != "*"]
    if validate_host(parts.hostname, served):
        return "The webhook cannot point at the gateway itself."
    return ""


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
    from costs.alerts import forecast_alert_raise, unpriced_alerts_raise
    from costs.notifications import alert_events_schedule

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


def _tag_scope_ok(value: str) -> bool:
    """``name=value`` with a name a tag can have (and no "__": the call log's
    tag lookups would read it as a path)."""
    name, equals, _ = value.partition("=")
    return bool(equals) and bool(name.strip()) and len(name) <= 64 and "__" not in name
