"""Writing call records off the response path, in batches.

On the server's hot path a row per call, written before the answer goes out,
costs a thread hop and a commit per request, and under load the hops contend
for the GIL with the event loop. Records submitted here are written by one
background task per event loop, many rows per transaction, right after the
response is sent.

Nothing is dropped: a failed batch stays queued and is retried with backoff;
batches are idempotent (``ignore_conflicts`` on the calls' own UUIDs); the
server's lifespan shutdown waits for the queue to drain. The one window left is
a hard kill of the process in the milliseconds between an answer and its
batch, which is why only the long-lived ASGI server loop uses this writer:
the Python API (``asyncio.run`` per call, say) writes before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from asgiref.sync import sync_to_async
from django.db import DatabaseError, close_old_connections

from llm_gateway.metrics import metrics_observe
from llm_gateway.services import CallRecord, calls_record_batch

logger = logging.getLogger(__name__)
MAX_BATCH = 500
MAX_BACKOFF = 5.0


class RecordWriter:
    def __init__(self) -> None:
        self._pending: list[CallRecord] = []
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, record: CallRecord) -> None:
        metrics_observe(record)
        self._pending.append(record)
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def drain(self) -> None:
        await self._idle.wait()

    async def _run(self) -> None:
        backoff = 0.05
        while self._pending:
            await asyncio.sleep(0)  # let the response that submitted go out first
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await sync_to_async(_write)(batch)
                backoff = 0.05
            except Exception:
                logger.exception("writing %d call records failed; retrying", len(batch))
                self._pending[:0] = batch
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
        self._idle.set()


def _write(batch: list[CallRecord]) -> None:
    try:
        calls_record_batch(batch)
    except DatabaseError:
        close_old_connections()  # a broken connection must not poison the next try
        raise


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RecordWriter] = (
    weakref.WeakKeyDictionary()
)


def record_writer() -> RecordWriter:
    loop = asyncio.get_running_loop()
    writer = _writers.get(loop)
    if writer is None:
        writer = _writers[loop] = RecordWriter()
    return writer


async def records_flush() -> None:
    """Wait until every submitted record of this event loop is written."""
    writer = _writers.get(asyncio.get_running_loop())
    if writer is not None:
        await writer.drain()
