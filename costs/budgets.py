"""Writes and checks of budgets: create, enforce before a call, evaluate after.

Enforcement runs on every gateway call, so it reads a cached list of blocking
budgets and a cached "exhausted" flag per budget instead of summing spend each
time. The price of the cache is overshoot: a budget can be exceeded by what
its scope spends within BUDGET_CHECK_CACHE_SECONDS of crossing the line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from costs.models import Budget, BudgetAction, BudgetAlertEvent, BudgetScope
from costs.selectors import BudgetStatus, budget_spend
from llm_gateway.interface import LLMBudgetExceededError

logger = logging.getLogger(__name__)

BLOCKING_CACHE_KEY = "costs:blocking_budgets"
_EXHAUSTED_KEY = "costs:budget_exhausted:{id}"
CHANNEL_TYPES = ("email", "webhook")
T = TypeVar("T")


# --- create and validate --------------------------------------------------------------


def budget_create(
    *,
    name: str,
    amount: Decimal | str,
    period: str = "monthly",
    scope: str = BudgetScope.GLOBAL,
    scope_value: str = "",
    gateway_key_id: int | None = None,
    thresholds: list[Any] | None = None,
    action: str = BudgetAction.ALERT,
    channels: list[dict[str, Any]] | None = None,
    enabled: bool = True,
) -> Budget:
    budget = Budget(
        name=name,
        amount=Decimal(str(amount)),
        period=period,
        scope=scope,
        scope_value=scope_value,
        gateway_key_id=gateway_key_id,
        thresholds=normalize_thresholds(thresholds or ["0.5", "0.8", "1.0"]),
        action=action,
        channels=channels or [],
        enabled=enabled,
    )
    budget.full_clean()
    budget.save()
    return budget


def normalize_thresholds(values: list[Any]) -> list[str]:
    """Thresholds as sorted, de-duplicated decimal strings ("0.8"), so the
    alert event's unique key never depends on how a float was spelled."""
    try:
        fractions = {Decimal(str(value)).normalize() for value in values}
    except InvalidOperation as exc:
        raise ValidationError({"thresholds": "Thresholds must be numbers like 0.8."}) from exc
    if any(not Decimal(0) < f <= Decimal(10) for f in fractions):
        raise ValidationError({"thresholds": "Thresholds are fractions between 0 and 10."})
    return [format(f, "f") for f in sorted(fractions)]


def budget_validate(budget: Budget) -> None:
    """The cross-field rules, shared by budget_create and the admin form."""
    errors: dict[str, str] = {}
    if budget.scope in (BudgetScope.AGENT, BudgetScope.MODEL) and not budget.scope_value:
        errors["scope_value"] = "Name the agent or model this budget limits."
    if budget.scope == BudgetScope.KEY and not budget.gateway_key_id:
        errors["gateway_key"] = "Choose the gateway key this budget limits."
    if not isinstance(budget.channels, list) or not all(_channel_valid(c) for c in budget.channels):
        errors["channels"] = (
            'A list of {"type": "email", "to": ["ops@example.com"]} or '
            '{"type": "webhook", "url": "https://…"}.'
        )
    if errors:
        raise ValidationError(errors)
    budget.thresholds = normalize_thresholds(list(budget.thresholds or []))


def _channel_valid(channel: Any) -> bool:
    if not isinstance(channel, dict) or channel.get("type") not in CHANNEL_TYPES:
        return False
    if channel["type"] == "email":
        to = channel.get("to")
        return isinstance(to, list) and bool(to) and all(isinstance(a, str) for a in to)
    from infra_dashboard.security import webhook_url_allowed

    url = channel.get("url")
    return isinstance(url, str) and webhook_url_allowed(url)


def budgets_changed(*, budget_id: int | None = None) -> None:
    """Forget cached budget decisions after a Budget save or delete, now and
    again on commit (a request between the two could re-cache the old row)."""
    keys = [BLOCKING_CACHE_KEY]
    if budget_id is not None:
        keys.append(_EXHAUSTED_KEY.format(id=budget_id))

    def forget() -> None:
        for key in keys:
            _cache_delete(key)

    forget()
    transaction.on_commit(forget, robust=True)


# --- enforce ----------------------------------------------------------------------------------


def budget_enforce(*, agent_name: str, gateway_key_id: int | None, model: str) -> None:
    """Raise LLMBudgetExceededError if a blocking budget covering this call is spent."""
    for budget_id, scope, scope_value, key_id in _blocking_budgets():
        if not _covers(scope, scope_value, key_id, agent_name, gateway_key_id, model):
            continue
        status = _exhausted(budget_id)
        if status is not None:
            raise LLMBudgetExceededError(
                f"Budget '{status.budget.name}' (${status.budget.amount} "
                f"{status.budget.period}) is exhausted until {status.period_end:%Y-%m-%d %H:%M} "
                "UTC.",
                code="budget_exceeded",
            )


abudget_enforce = sync_to_async(budget_enforce)


def _blocking_budgets() -> list[tuple[int, str, str, int | None]]:
    def load() -> list[tuple[int, str, str, int | None]]:
        rows = Budget.objects.filter(enabled=True, action=BudgetAction.BLOCK)
        return list(rows.values_list("id", "scope", "scope_value", "gateway_key_id"))

    return _cached(BLOCKING_CACHE_KEY, load)


def _covers(
    scope: str, value: str, key_id: int | None, agent: str, call_key_id: int | None, model: str
) -> bool:
    if scope == BudgetScope.AGENT:
        return value == agent
    if scope == BudgetScope.MODEL:
        return value == model
    if scope == BudgetScope.KEY:
        return key_id is not None and key_id == call_key_id
    return True


def _exhausted(budget_id: int) -> BudgetStatus | None:
    """The budget's status if it is spent, else None; cached briefly either way."""

    def load() -> BudgetStatus | None:
        budget = Budget.objects.filter(id=budget_id).first()
        if budget is None:
            return None
        status = budget_spend(budget=budget)
        return status if status.exhausted else None

    return _cached(_EXHAUSTED_KEY.format(id=budget_id), load)


# --- evaluate -------------------------------------------------------------------------------


def budgets_evaluate(*, at: datetime | None = None) -> list[BudgetAlertEvent]:
    """Record an alert event for every threshold crossed this period; returns
    the new ones. The unique (budget, period_start, threshold) constraint
    makes a second evaluation, or a concurrent one, a no-op."""
    created: list[BudgetAlertEvent] = []
    for budget in Budget.objects.filter(enabled=True):
        status = budget_spend(budget=budget, at=at)
        if budget.action == BudgetAction.BLOCK and status.exhausted:
            _cache_set(_EXHAUSTED_KEY.format(id=budget.id), status)
        created.extend(_events_for(status))
    if created:
        from costs.notifications import alert_events_schedule

        alert_events_schedule(event_ids=[event.id for event in created])
    return created


def _events_for(status: BudgetStatus) -> list[BudgetAlertEvent]:
    events = []
    for threshold in normalize_thresholds(status.budget.thresholds or []):
        if status.fraction < Decimal(threshold):
            break
        event, created = BudgetAlertEvent.objects.get_or_create(
            budget=status.budget,
            period_start=status.period_start,
            threshold=Decimal(threshold),
            defaults={"spend": status.spend, "amount": status.budget.amount},
        )
        if created:
            logger.info(
                "budget %s crossed %s%% (spend %s of %s)",
                status.budget.name,
                Decimal(threshold) * 100,
                status.spend,
                status.budget.amount,
            )
            events.append(event)
    return events


# --- cache, robust to an outage ---------------------------------------------------------


_MISSING = object()


def _cached(key: str, load: Callable[[], T]) -> T:
    """A short-lived cache entry; if the cache is down, compute every time
    rather than fail the call (the database is the truth)."""
    ttl = settings.BUDGET_CHECK_CACHE_SECONDS
    if ttl <= 0:
        return load()
    try:
        value = cache.get(key, _MISSING)
    except Exception:
        logger.warning("budget cache unavailable", exc_info=True)
        return load()
    if value is _MISSING:
        value = load()
        _cache_set(key, value)
    return value  # type: ignore[return-value]


def _cache_set(key: str, value: object) -> None:
    try:
        cache.set(key, value, timeout=max(settings.BUDGET_CHECK_CACHE_SECONDS, 1))
    except Exception:
        logger.warning("budget cache unavailable", exc_info=True)


def _cache_delete(key: str) -> None:
    try:
        cache.delete(key)
    except Exception:
        logger.warning("budget cache unavailable", exc_info=True)
