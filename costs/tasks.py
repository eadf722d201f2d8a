"""Celery tasks of the costs app: thin wrappers over services."""

from __future__ import annotations

from celery import shared_task

from calls.partitions import partitions_ensure
from costs.budgets import budgets_evaluate

# Defined with the delivery it runs; imported here so workers register every task.
from costs.notifications import alert_event_deliver_task
from costs.retention import retention_apply
from costs.rollups import rollups_update

__all__ = [
    "alert_event_deliver_task",
    "budgets_evaluate_task",
    "call_log_maintain_task",
    "rollups_update_task",
    "usage_refresh_task",
]


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


@shared_task
def call_log_maintain_task() -> dict:
    """Months ahead first (a write must never wait for one), then retention."""
    created = partitions_ensure()
    done = retention_apply()
    return {
        "partitions_created": created,
        "partitions_dropped": done.partitions,
        "rows_deleted": done.rows,
        "bodies_cleared": done.bodies,
    }
