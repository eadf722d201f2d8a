"""What a budget may say: its choices and the cross-field rules.

Below the models (``Budget.clean`` applies the rules), so it imports none of
them; budget_create, the budgets page form and the admin all end up here.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.http.request import validate_host

MAX_THRESHOLD = Decimal(10)  # 1000 %: "tell me when we are at ten times the plan"


class BudgetScope(models.TextChoices):
    GLOBAL = "global", "All traffic"
    AGENT = "agent", "One agent"
    KEY = "key", "One gateway key"
    MODEL = "model", "One model"
    USER = "user", "One end user"
    TAG = "tag", "One tag (name=value)"


# Scopes the rollups do not carry: their spend is read from the call log alone.
LOG_ONLY_SCOPES = frozenset({BudgetScope.KEY, BudgetScope.USER, BudgetScope.TAG})


class BudgetPeriod(models.TextChoices):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class BudgetAction(models.TextChoices):
    ALERT = "alert", "Alert only"
    BLOCK = "block", "Alert, and refuse calls once exhausted"
    DOWNGRADE = "downgrade", "Alert, and serve calls on a cheaper model once exhausted"


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


def budget_validate(budget: Any) -> None:
    """The cross-field rules of a Budget, shared by budget_create, the page form and
    the admin (through Budget.clean)."""
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


def _tag_scope_ok(value: str) -> bool:
    """``name=value`` with a name a tag can have (and no "__": the call log's
    tag lookups would read it as a path)."""
    name, equals, _ = value.partition("=")
    return bool(equals) and bool(name.strip()) and len(name) <= 64 and "__" not in name


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
