"""Refusals in the call log: one row at $0 per refused call, sampled under a flood.

A refusal (rate limit, a bad key whose prefix names a real key) did not reach
a provider, but an operator still wants to see it: who is hammering, which
leaked or revoked key is still being tried. A flood of them must not become a
flood of inserts, though, so per key and status at most
``GATEWAY_REFUSAL_ROWS_PER_SECOND`` rows are written each second. The rest of
that second is counted here and written as ONE aggregated row whose
``occurrences`` says how many refusals it stands for; rollups and metrics
count ``occurrences``, so the dashboards' totals stay exact.

The counters are per process (each server process writes its own sample). The
aggregated row is written when its second is over: by a timer on the event
loop, or by the next refusal of that key, or by ``refusals_flush`` (the
server's shutdown).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from calls.recorder import record_writer
from calls.services import CallRecord, acall_record
from llm_gateway import telemetry

logger = logging.getLogger(__name__)
# A little after the second ends, so a refusal landing on the boundary is in.
_FLUSH_DELAY = 1.05


@dataclass
class Refusal:
    """A refused call, as the caller of ``refusal_record`` describes it."""

    status: str
    http_status: int
    code: str
    message: str
    key_id: int | None
    key_prefix: str
    agent_name: str
    model: str = ""
    operation: str = "chat"
    defer: bool = False  # the server's background writer may take the row
    metadata: dict[str, Any] = field(default_factory=dict)
    # The caller's trace (its ``traceparent``): the refused call's span sits in it.
    trace_id: str = ""
    parent_id: str = ""
    trace_sampled: bool = True


@dataclass
class _Second:
    """One key's refusals of one status in one wall-clock second."""

    second: int
    written: int = 0
    folded: int = 0
    last: Refusal | None = None  # what the aggregated row says about the calls
    timer: asyncio.TimerHandle | None = None


_seconds: dict[tuple[str, str], _Second] = {}
_flushing: set[asyncio.Task] = set()  # referenced until done


def _row(refusal: Refusal, *, occurrences: int = 1, at: datetime | None = None) -> CallRecord:
    return CallRecord(
        id=uuid.uuid4(),
        created_at=at or timezone.now(),
        agent_name=refusal.agent_name,
        gateway_key_id=refusal.key_id,
        key_prefix=refusal.key_prefix,
        key_agent_name=refusal.agent_name,
        source="api",
        operation=refusal.operation,
        requested_model=refusal.model,
        model=refusal.model,
        status=refusal.status,
        # The status as the error type: the dashboards' error breakdown counts
        # refusals by it (llm_gateway.selectors.refusal_counts).
        error_type=refusal.status,
        error_message=refusal.message,
        http_status=refusal.http_status,
        metadata={"code": refusal.code, **refusal.metadata},
        occurrences=occurrences,
        trace_id=refusal.trace_id,
        span_id=telemetry.new_span_id() if refusal.trace_id else "",
        parent_id=refusal.parent_id,
        trace_sampled=refusal.trace_sampled,
    )


async def record_submit(record: CallRecord, *, defer: bool) -> None:
    """Write a row that holds no budget reservation (a refusal, a token count):
    through the server's background writer, or now. Exported like every call."""
    telemetry.call_export(record, None)
    if defer:
        record_writer().submit(record)
        return
    try:
        await acall_record(record)
    except DatabaseError:
        # The caller is answered all the same; only this row is lost (and logged).
        logger.warning(
            "%s row of key %s not recorded: database unavailable", record.status, record.key_prefix
        )


async def refusal_record(refusal: Refusal) -> None:
    """Record a refusal: a row of its own, or a count in its second's aggregated row."""
    now = time.time()
    key = (refusal.key_prefix, refusal.status)
    current = _seconds.get(key)
    if current is not None and current.second != int(now):
        await _flush(key, current)
        current = None
    if current is None:
        current = _seconds[key] = _Second(int(now))
    if current.written < settings.GATEWAY_REFUSAL_ROWS_PER_SECOND:
        current.written += 1
        await record_submit(_row(refusal), defer=refusal.defer)
        return
    current.folded += 1
    current.last = refusal
    if current.timer is None:
        loop = asyncio.get_running_loop()
        # A fresh context: the flush outlives the request, whose database
        # thread (llm_gateway.api.database_thread) is gone by then.
        current.timer = loop.call_later(
            _FLUSH_DELAY, _flush_later, key, current, context=contextvars.Context()
        )


def _flush_later(key: tuple[str, str], second: _Second) -> None:
    if _seconds.get(key) is second:
        task = asyncio.ensure_future(_flush(key, second))
        _flushing.add(task)
        task.add_done_callback(_flushing.discard)


async def _flush(key: tuple[str, str], second: _Second) -> None:
    """Write the second's aggregated row (if anything was folded) and forget it."""
    if _seconds.get(key) is second:
        del _seconds[key]
    if second.timer is not None:
        second.timer.cancel()
    refusal, folded = second.last, second.folded
    second.folded, second.last = 0, None
    if refusal is None or not folded:
        return
    refusal.metadata = {
        **refusal.metadata,
        "aggregated": True,
        "window_start": datetime.fromtimestamp(second.second, UTC).isoformat(),
        "window_seconds": 1,
    }
    at = datetime.fromtimestamp(second.second, UTC)
    await record_submit(_row(refusal, occurrences=folded, at=at), defer=refusal.defer)


async def refusals_flush() -> None:
    """Write every pending aggregated row now (shutdown, tests)."""
    for key, second in list(_seconds.items()):
        await _flush(key, second)


def refusals_reset() -> None:
    """Forget pending counts without writing them (tests)."""
    for second in _seconds.values():
        if second.timer is not None:
            second.timer.cancel()
    _seconds.clear()
