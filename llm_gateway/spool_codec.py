"""Spool entries: a call's record as one line of JSON, and back.

Two kinds of entry, keyed by the call's uuid (the row's primary key):
``S`` (started: the call holds its budget reservation and is about to ask a
provider) and ``E`` (ended: the whole record, as the background writer will
store it). Bodies, metadata and error text are redacted before they touch the
disk, exactly as before they touch the database (``llm_gateway.redaction``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from costs.pricing import Price
from costs.reservations import Reservation
from llm_gateway.models import CallStatus
from llm_gateway.redaction import redact, redact_text
from llm_gateway.services import CallRecord

STARTED, ENDED, HEADER = "S", "E", "H"
INTERRUPTED_ERROR = "GatewayInterrupted"
_RECORD_FIELDS = [f.name for f in fields(CallRecord) if f.name not in {"price", "reservation"}]
_STARTED_FIELDS = (
    "id",
    "created_at",
    "agent_name",
    "gateway_key_id",
    "key_prefix",
    "key_agent_name",
    "source",
    "requested_model",
    "stream",
)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _dumps(entry: dict[str, Any]) -> bytes:
    # ensure_ascii: a lone surrogate in a prompt is escaped, never an encoding error.
    return json.dumps(entry, separators=(",", ":"), default=_plain).encode() + b"\n"


def _reservation(reservation: Any) -> dict[str, Any] | None:
    if reservation is None or not getattr(reservation, "counter_ids", ()):
        return None
    return {"amount": str(reservation.amount), "counter_ids": list(reservation.counter_ids)}


def started_line(record: CallRecord, reservation: Any) -> bytes:
    entry = {name: getattr(record, name) for name in _STARTED_FIELDS}
    entry.update(
        k=STARTED,
        id=str(record.id),
        created_at=record.created_at.isoformat(),
        reservation=_reservation(reservation),
    )
    return _dumps(entry)


def ended_line(record: CallRecord) -> bytes:
    """The record's entry. Redacts the record itself first (and marks it so),
    so the writer stores what the spool holds without redacting it twice."""
    _redact_once(record)
    entry: dict[str, Any] = {name: getattr(record, name) for name in _RECORD_FIELDS}
    entry.update(
        k=ENDED,
        id=str(record.id),
        created_at=record.created_at.isoformat(),
        cost=str(record.cost),
        saved_cost=str(record.saved_cost),
        price=asdict(record.price) if record.price is not None else None,
        reservation=_reservation(record.reservation),
    )
    return _dumps(entry)


def _redact_once(record: CallRecord) -> None:
    if record.redacted:
        return
    if settings.LLM_STORE_BODIES:
        record.request_body = redact(record.request_body)
        record.response_body = redact(record.response_body)
    else:
        record.request_body = record.response_body = None
    record.metadata = redact(record.metadata)
    record.validation = redact(record.validation)
    record.error_message = redact_text(record.error_message)
    record.redacted = True


def header_line(database: str) -> bytes:
    return _dumps({"k": HEADER, "database": database})


def entry_parse(line: bytes) -> dict[str, Any] | None:
    """One entry, or None for a line a kill cut short (only ever the last)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and "k" in entry else None


def _record_base(entry: dict[str, Any]) -> dict[str, Any]:
    values = dict(entry)
    values["id"] = uuid.UUID(values["id"])
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    held = values.pop("reservation", None)
    if held is not None:
        values["reservation"] = Reservation(
            amount=Decimal(held["amount"]), counter_ids=tuple(held["counter_ids"])
        )
    values.pop("k", None)
    return values


def record_from_ended(entry: dict[str, Any]) -> CallRecord:
    values = _record_base(entry)
    for name in ("cost", "saved_cost"):
        values[name] = Decimal(values[name])
    price = values.pop("price", None)
    if price is not None:
        for name in ("input_per_m", "output_per_m", "cached_input_per_m", "cache_write_per_m"):
            price[name] = None if price[name] is None else Decimal(price[name])
        price["effective_from"] = datetime.fromisoformat(price["effective_from"])
        values["price"] = Price(**price)
    return CallRecord(**values)


def record_from_started(entry: dict[str, Any]) -> CallRecord:
    """The record of a call whose process died before it ended: an error at no
    cost (the usage is unknown), which also releases its budget reservation."""
    record = CallRecord(**_record_base(entry))
    record.status = CallStatus.ERROR
    record.error_type = INTERRUPTED_ERROR
    record.error_message = "The gateway process ended before this call finished."
    record.metadata = {"interrupted": True}
    return record
