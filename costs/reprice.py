"""Recompute past call costs from the price table (a deliberate rewrite of history).

Normally a price change never touches recorded calls: each row keeps the
price it was charged at. When a price was wrong or missing (an unpriced model
recorded at $0), ``calls_reprice`` charges each call again at the price in
force at *its* time, stores the new prices and cost on the row, rebuilds the
affected rollups, reconciles the budget counters and leaves an audit entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Min, Q, Sum

from calls.models import LLMCall
from costs.models import Budget, RepriceAudit
from costs.pricing import PRICE_LEDGER_FIELDS, call_cost, price_for, price_ledger_fields
from costs.reservations import counter_reconcile
from costs.rollups import rollups_rebuild

BATCH = 2000
_FIELDS = ("cost", "priced", *PRICE_LEDGER_FIELDS)
# The mock answers for free, and calls that never reached a provider have no kind.
UNPRICEABLE_KINDS = ("", "mock")


def calls_reprice(*, since: datetime, model: str = "", provider: str = "", by: str) -> RepriceAudit:
    """Reprice every call from ``since`` (optionally one model / provider)."""
    calls = _selection(since=since, model=model, provider=provider)
    span = calls.aggregate(first=Min("created_at"), last=Max("created_at"))
    old_total = calls.aggregate(total=Sum("cost"))["total"] or Decimal(0)
    count = 0
    with transaction.atomic():
        batch: list[LLMCall] = []
        for call in calls.order_by("created_at").iterator(chunk_size=BATCH):
            _charge(call)
            batch.append(call)
            if len(batch) >= BATCH:
                count += _save(batch)
        count += _save(batch)
        if span["first"] is not None:
            rollups_rebuild(start=span["first"], end=span["last"] + timedelta(minutes=1))
        new_total = calls.aggregate(total=Sum("cost"))["total"] or Decimal(0)
        audit = RepriceAudit.objects.create(
            since=since,
            model=model,
            provider=provider,
            calls=count,
            old_total=old_total,
            new_total=new_total,
            who=by,
        )
    for budget in Budget.objects.filter(enabled=True):
        counter_reconcile(budget=budget, exact=True)
    return audit


def _selection(*, since: datetime, model: str, provider: str):
    calls = LLMCall.objects.filter(created_at__gte=since).exclude(
        provider_kind__in=UNPRICEABLE_KINDS
    )
    if model:
        calls = calls.filter(model=model)
    if provider:
        calls = calls.filter(Q(provider_kind=provider) | Q(provider=provider))
    return calls


def _charge(call: LLMCall) -> None:
    price = price_for(call.model, provider=call.provider_kind, at=call.created_at)
    # Cache writes (Anthropic) are among the prompt tokens, billed at their own rates.
    metadata = call.metadata if isinstance(call.metadata, dict) else {}
    call.cost = call_cost(
        price,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        cached_tokens=call.cached_tokens,
        cache_write_tokens=int(metadata.get("cache_write_tokens") or 0),
        cache_write_1h_tokens=int(metadata.get("cache_write_1h_tokens") or 0),
        writes_in_prompt=True,
    )
    call.priced = price is not None
    for name, value in price_ledger_fields(price).items():
        setattr(call, name, value)


def _save(batch: list[LLMCall]) -> int:
    LLMCall.objects.bulk_update(batch, _FIELDS)
    count = len(batch)
    batch.clear()
    return count
