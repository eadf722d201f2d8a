"""Delivery of budget alerts to their channels (email, webhook, in-app).

Delivery never runs on the request path: events are published to Celery with
``transaction.on_commit``; if the broker is down the event stays pending and
the periodic evaluation re-publishes it. An event is claimed atomically
before it is sent, so two workers never send it at once, and each channel's
outcome is stored on the event: a retry re-sends only the channels still
pending, so a failing webhook never repeats an email.

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
from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from costs.alerts import in_app_alert_raise
from costs.budget_rules import webhook_url_problem
from costs.models import CHANNELS, AlertLevel, BudgetAlertEvent, DeliveryStatus

logger = logging.getLogger(__name__)

CLAIM_SECONDS = getattr(settings, "ALERT_CLAIM_SECONDS", 120)
MAX_ATTEMPTS = 6
WEBHOOK_TIMEOUT_S = 5.0


class NotificationError(Exception):
    """A channel could not be reached. ``permanent``: retrying cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 30 s, 1 min, 2 min … capped at an hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(attempts - 1, 0)))


def alert_events_schedule(*, event_ids: list[int] | None = None) -> None:
    """After commit, publish delivery of the given events plus any due again."""
    ids = set(event_ids or []) | set(_due_event_ids(now=timezone.now()))
    for event_id in sorted(ids):
        transaction.on_commit(lambda e=event_id: _enqueue(alert_event_deliver_task, e), robust=True)


def _enqueue(task: Any, event_id: int) -> None:
    try:
        task.apply_async((event_id,), retry=False)
    except Exception:  # noqa: BLE001 - broker down: the event stays pending for the sweep
        logger.warning("could not queue alert %s; the periodic task will retry", event_id)


def _due_event_ids(*, now: datetime) -> list[int]:
    return list(
        BudgetAlertEvent.objects.filter(delivered_at=None, failed_at=None)
        .filter(Q(claimed_until=None) | Q(claimed_until__lte=now))
        .filter(Q(next_attempt_at=None) | Q(next_attempt_at__lte=now))
        .values_list("id", flat=True)[:100]
    )


def alert_event_deliver(
    *, event_id: int, now: datetime | None = None, honour_backoff: bool = True
) -> str:
    """Send one event to its pending channels. Returns "delivered", "failed",
    "retry" or "skipped" (another worker holds it, it is done, or - with
    ``honour_backoff`` - its next attempt is not due; Celery's own retry
    countdown is the backoff, so the task passes False)."""
    now = now or timezone.now()
    claim = BudgetAlertEvent.objects.filter(id=event_id, delivered_at=None, failed_at=None)
    claim = claim.filter(Q(claimed_until=None) | Q(claimed_until__lte=now))
    if honour_backoff:
        claim = claim.filter(Q(next_attempt_at=None) | Q(next_attempt_at__lte=now))
    claimed = claim.update(
        claimed_until=now + timedelta(seconds=CLAIM_SECONDS), attempts=F("attempts") + 1
    )
    if claimed != 1:
        return "skipped"  # another worker got there first, or nothing left to do
    event = BudgetAlertEvent.objects.select_related("budget").get(id=event_id)
    error = _send_pending(event)
    return _finish(event, error, now=now)


def _send_pending(event: BudgetAlertEvent) -> NotificationError | None:
    payload = alert_payload(event)
    first_error: NotificationError | None = None
    for channel in CHANNELS:
        if getattr(event, f"{channel}_status") != DeliveryStatus.PENDING:
            continue
        if channel != "in_app":
            setattr(event, f"{channel}_attempts", getattr(event, f"{channel}_attempts") + 1)
        try:
            TRANSPORTS[channel](event, payload)
        except NotificationError as error:
            logger.warning("alert %s: %s failed: %s", event.id, channel, error)
            if error.permanent:
                setattr(event, f"{channel}_status", DeliveryStatus.FAILED)
            first_error = first_error or error
            continue
        setattr(event, f"{channel}_status", DeliveryStatus.SENT)
    return first_error


def _finish(event: BudgetAlertEvent, error: NotificationError | None, *, now: datetime) -> str:
    statuses = [getattr(event, f"{channel}_status") for channel in CHANNELS]
    event.claimed_until = None
    if DeliveryStatus.PENDING in statuses and event.attempts < MAX_ATTEMPTS:
        event.next_attempt_at = now + retry_delay(event.attempts)
        outcome = "retry"
    elif DeliveryStatus.PENDING in statuses or DeliveryStatus.FAILED in statuses:
        for channel in CHANNELS:
            if getattr(event, f"{channel}_status") == DeliveryStatus.PENDING:
                setattr(event, f"{channel}_status", DeliveryStatus.FAILED)
        event.failed_at = now
        outcome = "failed"
    else:
        event.delivered_at = now
        outcome = "delivered"
    event.last_error = str(error or "")[:500]
    event.save(
        update_fields=[
            "claimed_until",
            "next_attempt_at",
            "delivered_at",
            "failed_at",
            "last_error",
            *(f"{c}_status" for c in CHANNELS),
            "email_attempts",
            "webhook_attempts",
        ]
    )
    return outcome


def alert_payload(event: BudgetAlertEvent) -> dict[str, Any]:
    """A Slack-compatible body (``text`` plus Block Kit ``blocks``) that also
    carries the numbers as fields; money as decimal strings."""
    budget = event.budget
    percent = (event.threshold * 100).quantize(Decimal(1))
    scope = budget.scope if budget.scope == "global" else f"{budget.scope} {budget.scope_value}"
    text = (
        f"Budget '{budget.name}' ({scope.strip()}) crossed {percent}%: "
        f"${event.spent.quantize(Decimal('0.01'))} of ${event.amount.quantize(Decimal('0.01'))} "
        f"{budget.period}"
    )
    if event.threshold >= 1 and budget.action == "block":
        text += "; calls in its scope are now refused"
    elif event.threshold >= 1 and budget.action == "downgrade":
        text += f"; calls in its scope are now served by {budget.downgrade_model}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*LLM budget alert*\n{text}"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Period from {event.period_start:%Y-%m-%d %H:%M} UTC",
                    }
                ],
            },
        ],
        "budget": budget.name,
        "budget_id": budget.id,
        "scope": budget.scope,
        "scope_value": budget.scope_value,
        "period": budget.period,
        "period_start": event.period_start.isoformat(),
        "threshold": str(event.threshold),
        "spend_usd": str(event.spent),
        "amount_usd": str(event.amount),
        "action": budget.action,
    }


def send_email(event: BudgetAlertEvent, payload: dict[str, Any]) -> None:
    try:
        send_mail(
            subject=f"[LLM Gateway] {payload['text'][:120]}",
            message=payload["text"],
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=event.budget.email_list,
        )
    except OSError as exc:  # SMTP refused or unreachable: worth another try
        raise NotificationError(f"email not sent: {type(exc).__name__}") from exc


def send_webhook(event: BudgetAlertEvent, payload: dict[str, Any]) -> None:
    url = event.budget.webhook_url
    host = urlsplit(url).hostname or "?"
    if problem := webhook_url_problem(url):  # settings may have changed since it was saved
        raise NotificationError(f"webhook at {host} refused: {problem}", permanent=True)
    try:
        response = httpx.post(
            url,
            json=payload,
            # Delivery is at-least-once (a worker can die after sending, before noting
            # it): receivers dedupe on this key, one per alert event.
            headers={"Idempotency-Key": f"budget-alert-{event.id}"},
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


def send_in_app(event: BudgetAlertEvent, payload: dict[str, Any]) -> None:
    level = AlertLevel.CRITICAL if event.threshold >= 1 else AlertLevel.WARNING
    in_app_alert_raise(
        title=payload["text"],
        level=level,
        budget=event.budget,
        dedupe_key=f"budget-event:{event.id}",  # idempotent: a retry finds it
    )


TRANSPORTS = {"email": send_email, "webhook": send_webhook, "in_app": send_in_app}


# Defined beside what it runs, not in tasks.py, because alert_events_schedule
# publishes it and tasks.py imports this module; the name is the one workers,
# queued messages and tests know.
@shared_task(bind=True, max_retries=MAX_ATTEMPTS, name="costs.tasks.alert_event_deliver_task")
def alert_event_deliver_task(self, event_id: int) -> str:
    """Deliver one alert; a transient failure is retried with exponential
    backoff (Celery's countdown). The event's claim keeps a re-publish by the
    sweep and this retry from sending at the same time."""
    outcome = alert_event_deliver(event_id=event_id, honour_backoff=False)
    if outcome == "retry" and self.request.retries < self.max_retries:
        delay = retry_delay(self.request.retries + 1).total_seconds()
        raise self.retry(countdown=delay)
    return outcome
