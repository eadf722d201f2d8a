"""Writes of the call log: the one place a call row is written and its money settled.

``call_record`` (one row, now) and ``calls_record_batch`` (the background
writer's unit) are the only places an ``LLMCall`` row is created, so the
exactly-once rule has one home: the manager hands each call here once, from a
``finally`` path that also covers errors, cancellations and disconnects.

Apps above the call log take part in the write's transaction without being
imported by it: ``calls_written`` is sent inside the transaction (validation
stores inline results, costs schedules its rollup refresh), and the budget
settle is the one hook costs registers (``settle_hook_register``), because its
failure is handled apart (a refused settle must never cost a call its row).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.utils import timezone
from psycopg.types.json import Jsonb

from calls.durable import write_through_outage
from calls.metrics import metrics_observe
from calls.models import PRICE_LEDGER_FIELDS, CallStatus, LLMCall
from calls.signals import calls_written
from common.redaction import redact, redact_text

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
    operation: str = "chat"  # llm_gateway.operations.OPERATIONS
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
    # The price the call was charged at, by ledger column (PRICE_LEDGER_FIELDS).
    ledger_prices: dict[str, Decimal | None] = field(default_factory=dict)
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
    # An inline validation's result, stored with the row (calls_written).
    validation: dict[str, Any] | None = None
    # A budget reservation settled with the row, in its transaction (never stored).
    # Opaque here: the registered settle knows it; the writer only marks it settled.
    reservation: Any = None
    # More than 1 only for an aggregated row of refusals (llm_gateway.refusals).
    occurrences: int = 1
    # Attribution (llm_gateway.attribution) and the call's own span id.
    session_id: str = ""
    trace_id: str = ""
    span_id: str = ""
    parent_id: str = ""
    step: str = ""
    end_user: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    # The caller's sampling decision (traceparent flags), for the exported span only.
    trace_sampled: bool = True
    # --- write-ahead spool (calls.spool) ---
    # Bodies, metadata and error text already redacted (the spool did it before
    # they touched the disk): not done twice.
    redacted: bool = False


Settle = Callable[[list[tuple[Any, Decimal]]], None]


class _SettleHook:
    """The budget settle costs registers in its AppConfig.ready()."""

    settle: Settle | None = None


def settle_hook_register(settle: Settle) -> None:
    """Settle ``[(reservation, cost), ...]`` inside each write's transaction, so
    budget counters and the call log commit (or fail) together."""
    _SettleHook.settle = settle


def call_record(record: CallRecord) -> LLMCall:
    """Write one call now, and settle its reservation in the same transaction.

    Bodies and error text are redacted before they are stored. The settle runs
    in a savepoint: a refused settle is logged and left to the periodic
    reconciliation, never allowed to cost the call its row (or its answer)."""
    call = call_row(record)

    def save() -> LLMCall:
        with transaction.atomic():
            call.save(force_insert=True)
            calls_written.send(sender=LLMCall, records=[record])
            _settle_in_savepoint(record)
        return call

    # Retried through a short database outage; the uuid key keeps it exactly once.
    call = write_through_outage(
        save, already_written=lambda: LLMCall.objects.filter(id=record.id).first()
    )
    _reservations_settled([record])
    metrics_observe(record)
    return call


def _settle_in_savepoint(record: CallRecord) -> None:
    if record.reservation is None or _SettleHook.settle is None:
        return
    try:
        with transaction.atomic():
            _SettleHook.settle([(record.reservation, record.cost)])
    except DatabaseError:
        logger.exception("budget settle failed; reconciliation will")


def call_row(record: CallRecord) -> LLMCall:
    """The unsaved row for a record (redacted), for single or batched writes."""
    return LLMCall(**call_values(record))


def call_values(record: CallRecord) -> dict[str, Any]:
    """The row's field values (redacted), by attribute name."""
    store = settings.LLM_STORE_BODIES
    clean, clean_text = (_as_is, _as_is) if record.redacted else (redact, redact_text)
    return dict(
        id=record.id,
        created_at=record.created_at,
        recorded_at=timezone.now(),
        agent_name=record.agent_name[:200],
        gateway_key_id=record.gateway_key_id,
        key_prefix=record.key_prefix,
        source=record.source,
        operation=record.operation,
        provider=record.provider,
        provider_kind=record.provider_kind,
        requested_model=record.requested_model[:200],
        model=record.model[:200],
        stream=record.stream,
        status=record.status,
        error_type=record.error_type,
        error_message=clean_text(record.error_message)[:2000],
        http_status=record.http_status,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        total_tokens=record.prompt_tokens + record.completion_tokens,
        cached_tokens=record.cached_tokens,
        cost=record.cost,
        priced=record.priced,
        **{name: record.ledger_prices.get(name) for name in PRICE_LEDGER_FIELDS},
        latency_ms=record.latency_ms,
        ttft_ms=record.ttft_ms,
        retries=record.retries,
        fallback=record.fallback,
        cache_hit=record.cache_hit,
        saved_cost=record.saved_cost,
        downgraded=record.downgraded,
        finish_reason=record.finish_reason or "",
        request_body=clean(record.request_body) if store else None,
        response_body=clean(record.response_body) if store else None,
        metadata=clean(record.metadata),
        occurrences=record.occurrences,
        **attribution_values(record),
    )


def attribution_values(record: CallRecord) -> dict[str, Any]:
    """Attribution columns, redacted like the bodies: an agent may put anything
    in a session id or a tag, a customer's e-mail or a key among it."""
    return dict(
        session_id=redact_text(record.session_id),
        trace_id=record.trace_id,
        span_id=record.span_id,
        parent_id=record.parent_id,
        step=redact_text(record.step),
        end_user=redact_text(record.end_user),
        tags=redact(record.tags),
    )


def _as_is(value: Any) -> Any:
    return value


def call_record_stripped(record: CallRecord, *, reason: str) -> CallRecord:
    """The record without what a database can refuse (bodies, metadata, odd text),
    for a call whose full record was refused: its billing fields are kept."""

    def plain(text: str) -> str:
        return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")

    return replace(
        record,
        agent_name=plain(record.agent_name),
        key_prefix=plain(record.key_prefix),
        key_agent_name=plain(record.key_agent_name),
        requested_model=plain(record.requested_model),
        model=plain(record.model),
        error_message=plain(record.error_message),
        finish_reason=plain(record.finish_reason),
        http_status=record.http_status if (record.http_status or 0) < 1000 else None,
        request_body=None,
        response_body=None,
        metadata={"record_stripped": reason},
        validation=None,
    )


acall_record = sync_to_async(call_record)


def calls_record_batch(records: list[CallRecord]) -> None:
    """Write many calls in one transaction (the background writer's unit of work).

    On PostgreSQL the rows go in by COPY: ``bulk_create`` costs twice the CPU
    per row (it sends arrays that the driver quotes in Python), and this runs
    beside the event loop, competing for the GIL. A batch retried after an
    ambiguous failure (committed, but the connection died before we heard)
    meets its own rows there; it is then written with ``ignore_conflicts``,
    which skips them: the primary keys are the calls' own UUIDs.

    The budget settle is the transaction's last statement and has no savepoint
    of its own: it holds the counter rows that every call's reservation waits
    for, until the commit. If the database refuses it, the batch is written
    again without it, so the rows are never lost to a settle; the periodic
    reconciliation then counts their cost and releases the reservations.
    """
    rows = [call_values(record) for record in records]
    try:
        _batch_write(records, rows, settle=True)
    except _SettleRefused:
        held = sum(record.reservation is not None for record in records)
        logger.exception("settling %d reservations failed; reconciliation will", held)
        _batch_write(records, rows, settle=False)
    _reservations_settled(records)


class _SettleRefused(Exception):
    """The database refused a batch's settle (not an outage: that retries whole)."""


def _batch_write(records: list[CallRecord], rows: list[dict[str, Any]], *, settle: bool) -> None:
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                _calls_copy(rows)
                _batch_written(records, settle=settle)
            return
        except IntegrityError:
            logger.info("a record batch met rows already written; skipping those")
    with transaction.atomic():
        ids = [record.id for record in records]
        existing = set(LLMCall.objects.filter(id__in=ids).values_list("id", flat=True))
        LLMCall.objects.bulk_create([LLMCall(**row) for row in rows], ignore_conflicts=True)
        # Rows already written were settled with them: never settle a call twice.
        fresh = [record for record in records if record.id not in existing]
        _batch_written(fresh, settle=settle)


def _reservations_settled(records: list[CallRecord]) -> None:
    """After the batch committed: its reservations are settled, whatever happens next."""
    for record in records:
        if record.reservation is not None:
            record.reservation.settled = True


_COPY_FIELDS = list(LLMCall._meta.concrete_fields)
_JSON_FIELDS = {f.attname for f in _COPY_FIELDS if f.get_internal_type() == "JSONField"}


def _calls_copy(rows: list[dict[str, Any]]) -> None:
    columns = ", ".join(connection.ops.quote_name(f.column) for f in _COPY_FIELDS)
    names = [f.attname for f in _COPY_FIELDS]
    sql = f"COPY {connection.ops.quote_name(LLMCall._meta.db_table)} ({columns}) FROM STDIN"
    # The driver's own cursor: its errors are wrapped by hand into Django's.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:  # call_values gives every column
            values = [row[name] for name in names]
            for index, name in enumerate(names):
                if name in _JSON_FIELDS and values[index] is not None:
                    values[index] = Jsonb(values[index])
            copy.write_row(values)


def _batch_written(records: list[CallRecord], *, settle: bool) -> None:
    calls_written.send(sender=LLMCall, records=records)
    held = [(r.reservation, r.cost) for r in records if r.reservation is not None]
    if not (settle and held and _SettleHook.settle):
        return
    try:
        _SettleHook.settle(held)
    except (OperationalError, InterfaceError):
        raise  # the database is unreachable or busy: the writer retries the batch whole
    except DatabaseError as error:
        raise _SettleRefused from error
