"""Writes of the call log.

``call_record`` is the only place an ``LLMCall`` row is created, so the
exactly-once rule has one home: the manager calls it once per call, from a
``finally`` path that also covers errors, cancellations and disconnects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from costs.pricing import Price
from costs.signals import call_recorded
from llm_gateway.durable import write_through_outage
from llm_gateway.metrics import metrics_observe
from llm_gateway.models import CallStatus, LLMCall
from llm_gateway.redaction import redact, redact_text

logger = logging.getLogger(__name__)


@dataclass
class CallRecord:
    """Everything known about a call when it ends, before it becomes a row."""

    id: Any
    created_at: datetime
    agent_name: str = ""
    gateway_key_id: int | None = None
    key_prefix: str = ""
    # The key's own agent, when X-Agent-Name labels the call differently (budgets).
    key_agent_name: str = ""
    source: str = "python"
    provider: str = ""
    provider_kind: str = ""
    requested_model: str = ""
    model: str = ""
    stream: bool = False
    status: str = CallStatus.SUCCESS
    error_type: str = ""
    error_message: str = ""
    http_status: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = field(default_factory=lambda: Decimal("0"))
    price: Price | None = None
    priced: bool = True
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    retries: int = 0
    fallback: str = ""
    cache_hit: bool = False
    saved_cost: Decimal = field(default_factory=lambda: Decimal("0"))
    downgraded: bool = False
    finish_reason: str = ""
    request_body: Any = None
    response_body: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # An inline validation's result, stored with the row when writes are batched.
    validation: dict[str, Any] | None = None


def call_record(record: CallRecord) -> LLMCall:
    """Write one call. Bodies and error text are redacted before they are stored."""
    from validation.services import validation_result_store_dict

    call = call_row(record)

    def save() -> LLMCall:
        with transaction.atomic():
            call.save(force_insert=True)
            if record.validation is not None:
                validation_result_store_dict(call_id=record.id, result=record.validation)
        return call

    # Retried through a short database outage; the uuid key keeps it exactly once.
    call = write_through_outage(
        save, already_written=lambda: LLMCall.objects.filter(id=record.id).first()
    )
    metrics_observe(record)
    return call


def call_row(record: CallRecord) -> LLMCall:
    """The unsaved row for a record (redacted), for single or batched writes."""
    store = settings.LLM_STORE_BODIES
    price = record.price
    return LLMCall(
        id=record.id,
        created_at=record.created_at,
        recorded_at=timezone.now(),
        agent_name=record.agent_name[:200],
        gateway_key_id=record.gateway_key_id,
        key_prefix=record.key_prefix,
        source=record.source,
        provider=record.provider,
        provider_kind=record.provider_kind,
        requested_model=record.requested_model[:200],
        model=record.model[:200],
        stream=record.stream,
        status=record.status,
        error_type=record.error_type,
        error_message=redact_text(record.error_message)[:2000],
        http_status=record.http_status,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        total_tokens=record.prompt_tokens + record.completion_tokens,
        cached_tokens=record.cached_tokens,
        cost=record.cost,
        priced=record.priced,
        input_price_per_m=price.input_per_m if price else None,
        output_price_per_m=price.output_per_m if price else None,
        cached_price_per_m=price.cached_input_per_m if price else None,
        latency_ms=record.latency_ms,
        ttft_ms=record.ttft_ms,
        retries=record.retries,
        fallback=record.fallback,
        cache_hit=record.cache_hit,
        saved_cost=record.saved_cost,
        downgraded=record.downgraded,
        finish_reason=record.finish_reason or "",
        request_body=redact(record.request_body) if store else None,
        response_body=redact(record.response_body) if store else None,
        metadata=redact(record.metadata),
    )


acall_record = sync_to_async(call_record)


def calls_record_batch(records: list[CallRecord]) -> None:
    """Write many calls in one transaction (the background writer's unit of work).

    ``ignore_conflicts``: a batch retried after an ambiguous failure (committed,
    but the connection died before we heard) must not duplicate or fail; the
    primary keys are the calls' own UUIDs, so a repeat is recognised.
    """
    from validation.services import validation_result_store_dict

    with transaction.atomic():
        LLMCall.objects.bulk_create([call_row(r) for r in records], ignore_conflicts=True)
        for record in records:
            if "validation" in record.metadata and record.metadata.get("store_validation"):
                validation_result_store_dict(
                    call_id=record.id, result=record.metadata["validation"]
                )
        call_recorded(sender=LLMCall, created=True)
