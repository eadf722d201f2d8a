"""Celery tasks of the costs app: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from costs.budgets import budgets_evaluate
from costs.notifications import alert_event_deliver
from costs.rollups import rollups_update


@shared_task
def rollups_update_task() -> int:
    return rollups_update()


@shared_task
def budgets_evaluate_task() -> int:
    """Also the retry sweep for alerts whose delivery failed earlier."""
    return len(budgets_evaluate())


@shared_task
def usage_refresh_task() -> None:
    """After new calls: rollups first, so the budget spend reads fresh hours."""
    rollups_update()
    budgets_evaluate()


@shared_task
def alert_event_deliver_task(event_id: int) -> str:
    # No Celery-level retry: the event's claim doubles as its backoff, and the
    # periodic budgets_evaluate_task re-queues it when the backoff is over.
    return alert_event_deliver(event_id=event_id)
