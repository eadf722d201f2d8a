"""Spool entries: a call's record as one line of JSON, and back.

Two kinds of entry, keyed by the call's uuid (the row's primary key):
``S`` (started: the call holds its budget reservation and is about to ask a
provider) and ``E`` (ended: the whole record, as the background writer will
store it). Bodies, metadata and error text are redacted before they touch the
disk, exactly as before they touch the database (``common.redaction``).

A budget reservation is costs' business: this layer stores it through the
codec costs registers (``reservation_codec_register``), as data that is enough
to settle it once the call's row is written, and never looks inside.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from calls.models import CallStatus
from calls.services import CallRecord
from common.redaction import redact, redact_text

STARTED, ENDED, HEADER = "S", "E", "H"
INTERRUPTED_ERROR = "GatewayInterrupted"
_RECORD_FIELDS = [
    f.name for f in fields(CallRecord) if f.name not in {"ledger_prices", "reservation"}
]
_STARTED_FIELDS = (
    "id",
    "created_at",
    "agent_name",
    "gateway_key_id",
    "key_prefix",
    "key_agent_name",
    "source",
    "operation",
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


ReservationEncode = Callable[[Any], dict[str, Any] | None]
ReservationDecode = Callable[[dict[str, Any]], Any]


class _ReservationCodec:
    """How costs writes a reservation to the spool and reads it back."""

    encode: ReservationEncode | None = None
    decode: ReservationDecode | None = None


def reservation_codec_register(encode: ReservationEncode, decode: ReservationDecode) -> None:
    """``encode`` gives plain JSON data (None: nothing held, nothing to settle);
    ``decode`` gives back what the registered budget settle accepts."""
    _ReservationCodec.encode, _ReservationCodec.decode = encode, decode


def _reservation(reservation: Any) -> dict[str, Any] | None:
    if reservation is None or _ReservationCodec.encode is None:
        return None
    return _ReservationCodec.encode(reservation)


def _reservation_back(data: dict[str, Any] | None) -> Any:
    if data is None or _ReservationCodec.decode is None:
        return None
    return _ReservationCodec.decode(data)


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
        ledger_prices={
            name: None if value is None else str(value)
            for name, value in record.ledger_prices.items()
        },
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
    values["reservation"] = _reservation_back(values.pop("reservation", None))
    values.pop("k", None)
    return values


def record_from_ended(entry: dict[str, Any]) -> CallRecord:
    values = _record_base(entry)
    for name in ("cost", "saved_cost"):
        values[name] = Decimal(values[name])
    values["ledger_prices"] = {
        name: None if value is None else Decimal(value)
        for name, value in (values.get("ledger_prices") or {}).items()
    }
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
