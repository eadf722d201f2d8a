"""Celery entry point for validating a call off the request path."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from calls.models import LLMCall
from validation.services import validate_and_store


@shared_task(
    acks_late=True,  # a worker crash mid-task redelivers it; storing is idempotent
    reject_on_worker_lost=True,
    autoretry_for=(LLMCall.DoesNotExist,),  # the call row may not be committed yet
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def validate_call(
    call_id: str,
    content: str,
    agent_name: str | None,
    request: dict[str, Any] | None,
    finish_reason: str | None,
) -> dict[str, Any]:
    """Validate and store; returns a small summary (the full report lives in the DB)."""
    report = validate_and_store(
        call_id=call_id,
        content=content,
        agent_name=agent_name,
        request=request,
        finish_reason=finish_reason,
    )
    return {"call_id": str(call_id), "is_valid": report.is_valid, "score": report.quality_score}
