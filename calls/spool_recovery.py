"""Replaying the spool files of processes that died (``calls.spool``).

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

from calls.recorder import MAX_BATCH, records_write
from calls.services import CallRecord
from calls.spool import PATTERN, Spool, database_fingerprint, spool
from calls.spool_codec import (
    ENDED,
    HEADER,
    INTERRUPTED_ERROR,
    STARTED,
    entry_parse,
    record_from_ended,
    record_from_started,
)

logger = logging.getLogger(__name__)


def spool_file_records(files: list[bytes]) -> tuple[set[str | None], list[CallRecord]]:
    """The files' database fingerprints, and the records to write: each call's
    ended record, or for a call with none its interrupted one. One process's
    files are read together: a call's two entries may sit in two of them."""
    databases: set[str | None] = set()
    ended, started = {}, {}
    for data in files:
        lines = data.splitlines()
        header = entry_parse(lines[0]) if lines else None
        databases.add(header.get("database") if header and header["k"] == HEADER else None)
        for line in lines:
            entry = entry_parse(line)
            if entry is not None and entry["k"] == ENDED:
                ended[entry["id"]] = entry
            elif entry is not None and entry["k"] == STARTED:
                started[entry["id"]] = entry
    records = [record_from_ended(entry) for entry in ended.values()]
    records += [record_from_started(e) for call_id, e in started.items() if call_id not in ended]
    return databases, records


def spool_adopt(paths: list[Path]) -> int | None:
    """Replay one process's files if it is dead; the number of records, or None
    if it is alive (or another process adopted them first). A database error
    propagates and the files stay for the next try."""
    held: list[tuple[Path, int]] = []
    try:
        for path in paths:
            fd = _taken(path)
            if fd is None:
                return None
            held.append((path, fd))
        return _replay(held)
    finally:
        for _, fd in held:
            os.close(fd)


def _taken(path: Path) -> int | None:
    """The file, opened and locked, if its owner is dead and it is still there."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            return fd
    except (BlockingIOError, FileNotFoundError):
        pass  # its process is alive, or another adopter replayed and deleted it
    os.close(fd)
    return None


def _replay(held: list[tuple[Path, int]]) -> int:
    names = ", ".join(path.name for path, _ in held)
    databases, records = spool_file_records(
        [os.pread(fd, os.fstat(fd).st_size, 0) for _, fd in held]
    )
    if databases - {None, database_fingerprint()}:
        logger.error("spool files %s belong to another database; left in place", names)
        return 0
    for start in range(0, len(records), MAX_BATCH):
        records_write(records[start : start + MAX_BATCH])
    for path, _ in held:
        os.unlink(path)
    interrupted = sum(record.error_type == INTERRUPTED_ERROR for record in records)
    logger.warning(
        "replayed %d call records (%d interrupted calls) from %s", len(records), interrupted, names
    )
    return len(records)


def spool_sweep(own: Spool) -> int:
    """Adopt every dead process's files in the spool directory; records replayed."""
    by_process: dict[str, list[Path]] = {}
    for path in sorted(own.directory.glob(PATTERN)):
        if not own.owns(path):
            by_process.setdefault(path.name.rsplit("-", 1)[0], []).append(path)
    replayed = 0
    try:
        for paths in by_process.values():
            replayed += spool_adopt(paths) or 0
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
