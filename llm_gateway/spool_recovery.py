"""Replaying the spool files of processes that died (``llm_gateway.spool``).

A starting server process, and then each process every
``GATEWAY_SPOOL_SWEEP_SECONDS``, looks for spool files whose lock it can take:
their owner is dead. Each is replayed through the background writer's own
batch write, then deleted. Exactly once, even if the replaying process dies
too and the next one replays the same file again: a call's uuid is its row's
primary key, rows already present are skipped, and a budget reservation is
settled only in the transaction that inserts its call's row. A call that
started but never ended (its process died mid-call) is recorded as an error
at no cost, which releases the reservation it held.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from llm_gateway.recorder import MAX_BATCH, records_write
from llm_gateway.services import CallRecord
from llm_gateway.spool import PATTERN, Spool, database_fingerprint, spool
from llm_gateway.spool_codec import (
    ENDED,
    HEADER,
    INTERRUPTED_ERROR,
    STARTED,
    entry_parse,
    record_from_ended,
    record_from_started,
)

logger = logging.getLogger(__name__)


def spool_file_records(data: bytes) -> tuple[str | None, list[CallRecord]]:
    """The file's database fingerprint and the records to write: each call's
    ended record, or for a call with none its interrupted one."""
    database, ended, started = None, {}, {}
    for line in data.splitlines():
        entry = entry_parse(line)
        if entry is None:
            continue
        kind = entry["k"]
        if kind == HEADER:
            database = entry.get("database")
        elif kind == ENDED:
            ended[entry["id"]] = entry
        elif kind == STARTED:
            started[entry["id"]] = entry
    records = [record_from_ended(entry) for entry in ended.values()]
    records += [record_from_started(e) for call_id, e in started.items() if call_id not in ended]
    return database, records


def spool_adopt(path: Path) -> int | None:
    """Replay one file if its owner is dead; the number of records, or None if
    the file is in use (or gone). A database error propagates and the file stays."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its process is alive
        if not _still_there(path, fd):
            return None  # another adopter replayed and deleted it meanwhile
        return _replay(path, fd)
    finally:
        os.close(fd)


def _still_there(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _replay(path: Path, fd: int) -> int:
    with os.fdopen(os.dup(fd), "rb") as stream:
        database, records = spool_file_records(stream.read())
    if database is not None and database != database_fingerprint():
        logger.error("spool file %s belongs to another database; left in place", path.name)
        return 0
    for start in range(0, len(records), MAX_BATCH):
        records_write(records[start : start + MAX_BATCH])
    os.unlink(path)
    interrupted = sum(record.error_type == INTERRUPTED_ERROR for record in records)
    logger.warning(
        "replayed %d call records (%d interrupted calls) from %s",
        len(records),
        interrupted,
        path.name,
    )
    return len(records)


def spool_sweep(own: Spool) -> int:
    """Adopt every dead process's file in the spool directory; records replayed."""
    replayed = 0
    try:
        for path in sorted(own.directory.glob(PATTERN)):
            if not own.owns(path):
                replayed += spool_adopt(path) or 0
    finally:
        if getattr(connection, "pool", None) is not None:
            connection.close()  # hand the pooled connection back, as the writer does
    return replayed


_sweeper_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool-sweep")
_asweep = sync_to_async(spool_sweep, thread_sensitive=False, executor=_sweeper_thread)


async def spool_sweep_forever() -> None:
    """At start, then periodically; through a database outage it keeps trying."""
    own = spool()
    if own is None:
        return
    delay = 1.0
    while True:
        try:
            await _asweep(own)
            delay = float(settings.GATEWAY_SPOOL_SWEEP_SECONDS)
        except Exception:  # an outage: the files stay and the next round tries again
            logger.warning("replaying spooled call records failed; retrying", exc_info=True)
            delay = min(delay * 2, float(settings.GATEWAY_SPOOL_SWEEP_SECONDS))
        await asyncio.sleep(delay)


def spool_sweeper_start() -> asyncio.Task | None:
    if not settings.GATEWAY_BACKGROUND_RECORDS or spool() is None:
        return None
    return asyncio.get_running_loop().create_task(spool_sweep_forever())


async def spool_sweeper_stop(task: asyncio.Task | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    own = spool()
    if own is not None:
        own.close()
