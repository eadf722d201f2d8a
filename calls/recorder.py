"""Writing call records off the response path, in batches.

On the server's hot path a row per call, written before the answer goes out,
costs a thread hop and a commit per request, and under load the hops contend
for the GIL with the event loop. Records submitted here are written by one
background task per event loop, many rows per transaction, right after the
response is sent.

Nothing is dropped: a failed batch stays queued and is retried with backoff;
batches are idempotent (``ignore_conflicts`` on the calls' own UUIDs); the
server's lifespan shutdown waits for the queue to drain. A hard kill of the
process (SIGKILL, the OOM killer) loses nothing either: each record is first
appended to the process's write-ahead spool (``calls.spool``), which
the next process replays. Only the long-lived ASGI server loop uses this
writer: the Python API (``asyncio.run`` per call, say) writes before it returns.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from calls.metrics import metrics_observe
from calls.services import CallRecord, call_record_stripped, calls_record_batch
from calls.spool import spool

logger = logging.getLogger(__name__)
MAX_BATCH = 500
MAX_BACKOFF = 5.0
# A batch waits this long for company after its first record: at low concurrency
# every record was its own transaction (about 1 ms of CPU beside the event loop,
# plus a commit), and the next request paid for it. A hard kill (SIGKILL, OOM)
# loses nothing to it: the spool has the records; a graceful stop drains the queue.
BATCH_WINDOW = 0.01


class RecordWriter:
    def __init__(self) -> None:
        self._pending: list[CallRecord] = []
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, record: CallRecord) -> None:
        metrics_observe(record)
        _spool_ended(record)  # durable before the answer goes out (calls.spool)
        self._pending.append(record)
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def backlog(self) -> int:
        """Records submitted and not yet written."""
        return len(self._pending)

    async def drain(self) -> None:
        await self._idle.wait()

    async def _run(self) -> None:
        backoff = 0.05
        while self._pending:
            await asyncio.sleep(BATCH_WINDOW if len(self._pending) < MAX_BATCH else 0)
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await _write_on_own_thread(batch)
                _spool_committed(batch)
                backoff = 0.05
            except Exception:
                logger.exception("writing %d call records failed; retrying", len(batch))
                self._pending[:0] = batch
                await _let_go_on_own_thread()
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
            if not self._pending:
                # Records submitted while the connection goes back are this task's:
                # ``submit`` starts no other while it runs.
                await _let_go_on_own_thread()
        self._idle.set()


def _write(batch: list[CallRecord]) -> None:
    """Write on the connection the last batch used: while records keep coming the
    writer keeps it, instead of a pool checkout (with its health-check query) per
    batch, a fifth of the writer's CPU at 50 calls in flight."""
    _spool_sync()
    records_write(batch)


def _let_go() -> None:
    """Hand a pooled connection back once the queue is empty or a write failed:
    a connection the writer kept idle would be one more the pool must rebuild
    after a database outage before the callers' own thread gets one."""
    if getattr(connection, "pool", None) is None:
        return
    try:
        connection.close()
    except Exception:  # a broken connection: the pool drops it anyway
        logger.warning("handing the record writer's connection back failed", exc_info=True)


# The batches are written on a thread of their own, not on the thread-sensitive
# one that serves the calls' own database work (budget reservations, key
# lookups): a call's reservation queued there behind a whole batch.
_writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-records")
_write_on_own_thread = sync_to_async(_write, thread_sensitive=False, executor=_writer_thread)
_let_go_on_own_thread = sync_to_async(_let_go, thread_sensitive=False, executor=_writer_thread)


def records_write(batch: list[CallRecord]) -> None:
    """Write a batch; an unreachable database raises (retry it whole), a refused
    record is stored without its bodies or, failing that, logged."""
    try:
        calls_record_batch(batch)
    except (OperationalError, InterfaceError):
        close_old_connections()  # a broken connection must not poison the next try
        raise  # the database is unreachable: the batch is retried as it is
    except Exception:
        # The database answered, and refused something in the batch. Retrying it
        # whole would wedge the queue behind one bad record, so each is written
        # on its own, and one refused even alone is stored without its bodies.
        logger.exception("a batch of %d call records was refused; writing one by one", len(batch))
        close_old_connections()
        for record in batch:
            _write_alone(record)


def _write_alone(record: CallRecord) -> None:
    try:
        calls_record_batch([record])
        return
    except (OperationalError, InterfaceError):
        raise
    except Exception as error:  # noqa: BLE001 - logged with the call's identity below
        refusal = type(error).__name__
    try:
        calls_record_batch([call_record_stripped(record, reason=refusal)])
        logger.error("call %s stored without its bodies (refused: %s)", record.id, refusal)
    except (OperationalError, InterfaceError):
        raise
    except Exception:
        # Nothing more can be stored: the log keeps what billing needs.
        logger.exception(
            "call %s NOT RECORDED: agent=%r key=%s model=%r tokens=%d+%d cost=%s status=%s",
            record.id,
            record.agent_name,
            record.key_prefix,
            record.model,
            record.prompt_tokens,
            record.completion_tokens,
            record.cost,
            record.status,
        )


# --- the write-ahead spool's hooks (calls.spool) ---------------------------------


def _spool_ended(record: CallRecord) -> None:
    current = spool()
    if current is None:
        return
    try:
        current.ended(record)
    except OSError:  # a full disk must not fail the call: the record is still queued
        logger.exception("call %s could not be spooled", record.id)


def _spool_committed(batch: list[CallRecord]) -> None:
    current = spool()
    if current is None:
        return
    try:
        current.committed(record.id for record in batch)
    except OSError:  # the rows are in: a replay of these entries would only skip them
        logger.exception("call spool bookkeeping failed")


def _spool_sync() -> None:
    current = spool()
    if current is None:
        return
    try:
        current.sync()
    except OSError:  # the records are appended all the same; only a host crash could lose them
        logger.exception("fsync of the call spool failed")


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
