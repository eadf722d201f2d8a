"""Celery tasks of the costs app: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from costs.budgets import budgets_evaluate
from costs.notifications import MAX_ATTEMPTS, alert_event_deliver, retry_delay
from costs.rollups import rollups_update


@shared_task
def rollups_update_task() -> int:
    return rollups_update()


@shared_task
def budgets_evaluate_task() -> int:
    """Also reconciles budget counters and re-publishes pending alert deliveries."""
    return len(budgets_evaluate())


@shared_task
def usage_refresh_task() -> None:
    """After new calls: rollups first, so the budget spend reads fresh hours."""
    rollups_update()
    budgets_evaluate()


@shared_task(bind=True, max_retries=MAX_ATTEMPTS)
def alert_event_deliver_task(self, event_id: int) -> str:
    """Deliver one alert; a transient failure is retried with exponential
    backoff (Celery's countdown). The event's claim keeps a re-publish by the
    sweep and this retry from sending at the same time."""
    outcome = alert_event_deliver(event_id=event_id, honour_backoff=False)
    if outcome == "retry" and self.request.retries < self.max_retries:
        delay = retry_delay(self.request.retries + 1).total_seconds()
        raise self.retry(countdown=delay)
    return outcome
