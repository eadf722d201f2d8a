"""Delivery of budget alerts to their channels (email, webhook).

An event is claimed atomically before it is sent, so two workers never send
the same alert; a failed delivery leaves the claim in place for a backoff
delay, after which the periodic sweep (``alert_events_schedule`` from
``budgets_evaluate``) tries again. Channels already reached are remembered
per event, so a retry does not repeat an email because the webhook failed.

Webhook URLs (Slack, Teams) carry their token in the path: they are secrets,
so neither logs nor stored errors ever contain one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from costs.models import BudgetAlertEvent

logger = logging.getLogger(__name__)

CLAIM_SECONDS = getattr(settings, "ALERT_CLAIM_SECONDS", 120)
MAX_ATTEMPTS = 6
WEBHOOK_TIMEOUT_S = 5.0


class NotificationError(Exception):
    """A channel could not be reached. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def alert_events_schedule(*, event_ids: list[int] | None = None) -> None:
    """Queue delivery of the given events plus any due for a retry."""
    from costs.tasks import alert_event_deliver_task

    ids = set(event_ids or []) | set(_due_event_ids(now=timezone.now()))
    for event_id in sorted(ids):
        transaction.on_commit(lambda e=event_id: _enqueue(alert_event_deliver_task, e), robust=True)


def _enqueue(task: Any, event_id: int) -> None:
    try:
        task.delay(event_id)
    except Exception:  # noqa: BLE001 - broker down: the next sweep picks it up
        logger.warning("could not queue alert %s; it will be retried", event_id)


def _due_event_ids(*, now: datetime) -> list[int]:
    return list(
        BudgetAlertEvent.objects.filter(delivered_at=None, failed_at=None)
        .filter(Q(claimed_until=None) | Q(claimed_until__lte=now))
        .values_list("id", flat=True)[:100]
    )


def alert_event_deliver(*, event_id: int, now: datetime | None = None) -> str:
    """Send one event to its budget's channels. Returns "delivered", "failed",
    "retry" or "skipped" (another worker holds it, or it is done)."""
    now = now or timezone.now()
    claimed = (
        BudgetAlertEvent.objects.filter(id=event_id, delivered_at=None, failed_at=None)
        .filter(Q(claimed_until=None) | Q(claimed_until__lte=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1)
    )
    if claimed != 1:
        return "skipped"  # another worker got there first, or nothing left to do
    event = BudgetAlertEvent.objects.select_related("budget").get(id=event_id)
    error = _send_all(event)
    return _finish(event, error, now=now)


def _send_all(event: BudgetAlertEvent) -> NotificationError | None:
    payload = alert_payload(event)
    first_error: NotificationError | None = None
    for index, channel in enumerate(event.budget.channels or []):
        if event.deliveries.get(str(index)) == "sent":
            continue
        try:
            TRANSPORTS[channel["type"]](channel, payload)
        except NotificationError as error:
            logger.warning(
                "alert %s: %s channel %s failed: %s", event.id, channel["type"], index, error
            )
            first_error = first_error or error
            continue
        event.deliveries[str(index)] = "sent"
    return first_error


def _finish(event: BudgetAlertEvent, error: NotificationError | None, *, now: datetime) -> str:
    event.claimed_until = None
    if error is None:
        event.delivered_at = now
        outcome = "delivered"
    elif error.permanent or event.attempts >= MAX_ATTEMPTS:
        event.failed_at = now
        outcome = "failed"
    else:
        # Hold the claim as the backoff: the sweep skips the event until then.
        event.claimed_until = now + timedelta(seconds=min(3600, 30 * 2**event.attempts))
        outcome = "retry"
    event.last_error = str(error or "")[:500]
    event.save(
        update_fields=["claimed_until", "delivered_at", "failed_at", "deliveries", "last_error"]
    )
    return outcome


def alert_payload(event: BudgetAlertEvent) -> dict[str, Any]:
    budget = event.budget
    percent = (event.threshold * 100).quantize(Decimal(1))
    scope = budget.scope if budget.scope == "global" else f"{budget.scope} {budget.scope_value}"
    text = (
        f"Budget '{budget.name}' ({scope.strip()}) crossed {percent}%: "
        f"${event.spend.quantize(Decimal('0.01'))} of ${event.amount} {budget.period}"
    )
    if budget.action == "block" and event.threshold >= 1:
        text += "; calls in its scope are now refused"
    return {
        "text": text,  # Slack- and Teams-compatible
        "budget": budget.name,
        "budget_id": budget.id,
        "scope": budget.scope,
        "scope_value": budget.scope_value,
        "period": budget.period,
        "period_start": event.period_start.isoformat(),
        "threshold": str(event.threshold),
        "spend_usd": str(event.spend),
        "amount_usd": str(event.amount),
        "action": budget.action,
        # Delivery is at-least-once (a worker can die after sending, before noting it):
        # receivers dedupe on this, also sent as the Idempotency-Key header.
        "alert_id": f"budget-alert-{event.id}",
    }


def send_email(channel: dict[str, Any], payload: dict[str, Any]) -> None:
    try:
        send_mail(
            subject=f"[LLM Gateway] {payload['text'][:120]}",
            message=payload["text"],
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=list(channel["to"]),
        )
    except OSError as exc:  # SMTP refused or unreachable: worth another try
        raise NotificationError(f"email not sent: {type(exc).__name__}") from exc


def send_webhook(channel: dict[str, Any], payload: dict[str, Any]) -> None:
    from infra_dashboard.security import webhook_url_allowed

    host = urlsplit(channel["url"]).hostname or "?"
    if not webhook_url_allowed(channel["url"]):  # stored before the rule, or edited around it
        raise NotificationError(f"webhook at {host} is not an allowed target", permanent=True)
    try:
        response = httpx.post(
            channel["url"],
            json=payload,
            headers={"Idempotency-Key": payload["alert_id"]},
            timeout=WEBHOOK_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        # httpx's own messages include the URL: never pass them on.
        raise NotificationError(f"webhook at {host} unreachable: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        permanent = response.status_code in (400, 401, 403, 404, 410)
        raise NotificationError(
            f"webhook at {host} answered {response.status_code}", permanent=permanent
        )


TRANSPORTS = {"email": send_email, "webhook": send_webhook}
