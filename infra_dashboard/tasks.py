"""Project-level tasks that belong to no single app."""

from __future__ import annotations

from celery import shared_task


@shared_task(bind=True)
def ping(self) -> dict[str, object]:
    """Answer with where the task ran, so tests can prove a real worker took it."""
    return {
        "eager": bool(self.request.is_eager),
        "hostname": self.request.hostname,
        "routing_key": (self.request.delivery_info or {}).get("routing_key"),
    }
