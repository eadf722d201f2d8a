"""Sort orders of the request explorer, each walked by keyset.

A page is "the next ``size`` rows after the cursor" in the chosen order, so
page 200 costs what page 1 costs and a call arriving meanwhile never shifts
rows between pages. Every order ends on ``id`` so the cursor is a strict
position even when values tie (many calls cost the same).
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db.models import Q, QuerySet

from calls.models import LLMCall


@dataclass(frozen=True)
class Order:
    label: str
    field: str
    descending: bool


# "newest" is the default and keeps its own cursor format (llm_gateway.selectors).
ORDERS = {
    "newest": Order("Newest first", "created_at", True),
    "oldest": Order("Oldest first", "created_at", False),
    "cost": Order("Most expensive", "cost", True),
    "latency": Order("Slowest", "latency_ms", True),
}
_PARSE = {"created_at": None, "cost": Decimal, "latency_ms": float}


def ordered(calls: QuerySet[LLMCall], sort: str) -> QuerySet[LLMCall]:
    order = ORDERS[sort]
    sign = "-" if order.descending else ""
    return calls.order_by(f"{sign}{order.field}", f"{sign}id")


def cursor_after(call: LLMCall, sort: str) -> str:
    value = getattr(call, ORDERS[sort].field)
    raw = f"{sort}|{value.isoformat() if sort == 'oldest' else value}|{call.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def seek(calls: QuerySet[LLMCall], sort: str, token: str) -> QuerySet[LLMCall] | None:
    """Rows strictly after the cursor in this order; None for a forged or stale cursor."""
    position = _decode(token, sort)
    if position is None:
        return None
    return seek_after(calls, sort, *position)


def seek_after(
    calls: QuerySet[LLMCall], sort: str, value: object, call_id: uuid.UUID
) -> QuerySet[LLMCall]:
    """Rows strictly after (``value``, ``call_id``) in this order (the export's walk)."""
    order = ORDERS[sort]
    beyond = "lt" if order.descending else "gt"
    inclusive = "lte" if order.descending else "gte"
    # The inclusive bound first gives the planner a range on the sort column.
    return calls.filter(**{f"{order.field}__{inclusive}": value}).filter(
        Q(**{f"{order.field}__{beyond}": value}) | Q(**{f"id__{beyond}": call_id})
    )


def _decode(token: str, sort: str) -> tuple[object, uuid.UUID] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        name, value, call_id = raw.split("|", 2)
        if name != sort:
            return None
        parse = _PARSE[ORDERS[sort].field] or datetime.fromisoformat
        return parse(value), uuid.UUID(call_id)
    except (ValueError, UnicodeDecodeError, InvalidOperation):
        return None
