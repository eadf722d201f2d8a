"""A write-ahead spool of call records, so a killed process loses no call.

The server writes call records in batches after the answer has gone out
(``calls.recorder``). Before that, each record is appended here: a
``write()`` into a file of this process, which the kernel keeps even if the
process is SIGKILLed a microsecond later (the OOM killer, an eviction past its
grace period). ``fsync`` (surviving a crash of the host too) is batched: the
writer thread syncs before a database batch, at most every FSYNC_INTERVAL, off
the event loop.

Files: ``calls-<pid>-<token>-<n>.wal`` in ``GATEWAY_SPOOL_DIR``, each held
under an exclusive ``flock`` by the process that writes it. The kernel drops
the lock when the process dies, however it dies, so a lock that can be taken
is the proof that the owner is gone: another process may then adopt the file
and replay it (``calls.spool_recovery``). A file is deleted once every
call it mentions is in the database. The per-process file is chosen over a
Redis stream: an append costs no round trip on the answer's path, and it keeps
working when Redis is the thing that is down.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.conf import settings

from calls.services import CallRecord
from calls.spool_codec import ended_line, header_line, started_line

logger = logging.getLogger(__name__)
SEGMENT_BYTES = 16 * 1024 * 1024
# A crash of the whole host may lose what was appended since the last fsync.
FSYNC_INTERVAL = 0.1
PATTERN = "calls-*.wal"


def database_fingerprint() -> str:
    """Which database a spool's records belong to: a file is never replayed into
    another one (a test database, a restored staging copy)."""
    db = settings.DATABASES["default"]
    where = f"{db['ENGINE']}|{db.get('HOST', '')}|{db.get('PORT', '')}|{db['NAME']}"
    return hashlib.sha256(where.encode()).hexdigest()[:16]


class _Segment:
    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd
        self.size = self.header = 0
        self.live = 0  # entries of calls not yet in the database


class Spool:
    """This process's spool files. Appends come from the event loop and from the
    reservation thread, bookkeeping from the loop: one lock guards both."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync
        self._lock = threading.Lock()
        self._name = f"calls-{os.getpid()}-{secrets.token_hex(4)}"
        self._count = 0
        self._segments: list[_Segment] = []
        self._where: dict[Any, list[_Segment]] = {}
        self._synced_at = float("-inf")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._current = self._open_segment()

    # --- the answer's path --------------------------------------------------------------

    def started(self, record: CallRecord, reservation: Any) -> None:
        self._append(record.id, started_line(record, reservation))

    def ended(self, record: CallRecord) -> None:
        self._append(record.id, ended_line(record))

    def _append(self, call_id: Any, line: bytes) -> None:
        with self._lock:
            segment = self._current
            if segment.size > SEGMENT_BYTES:
                segment = self._current = self._open_segment()
            _write_all(segment.fd, line)
            segment.size += len(line)
            segment.live += 1
            self._where.setdefault(call_id, []).append(segment)

    # --- the writer's side ----------------------------------------------------------------

    def committed(self, call_ids: Iterable[Any]) -> None:
        """These calls' rows are in the database: their entries are spent, and a
        file with nothing else in it goes (the current one is emptied instead)."""
        with self._lock:
            touched = set()
            for call_id in call_ids:
                for segment in self._where.pop(call_id, ()):
                    segment.live -= 1
                    touched.add(segment)
            for segment in touched:
                if segment.live == 0:
                    self._retire(segment)

    def sync(self) -> None:
        """fsync the files in use (the writer thread, before each batch), at most
        every FSYNC_INTERVAL: an fsync costs ~150 µs of CPU, and one per batch
        was one per call at low concurrency."""
        now = time.monotonic()
        if not self.fsync or now - self._synced_at < FSYNC_INTERVAL:
            return
        self._synced_at = now
        with self._lock:  # duplicates: the loop may retire a file meanwhile
            fds = [os.dup(s.fd) for s in self._segments if s.live or s is self._current]
        for fd in fds:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def owns(self, path: Path) -> bool:
        return path.name.startswith(self._name + "-")

    def close(self) -> None:
        """At a clean shutdown, after the writer drained: delete what is spent."""
        with self._lock:
            for segment in list(self._segments):
                if segment.live == 0:
                    self._retire(segment, final=True)

    # --- files ------------------------------------------------------------------------------

    def _open_segment(self) -> _Segment:
        """Created under a name adopters ignore and renamed once locked, so no
        other process can ever take the lock of a file that is in use."""
        self._count += 1
        path = self.directory / f"{self._name}-{self._count}.wal"
        hidden = self.directory / f".{path.name}.new"
        fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        line = header_line(database_fingerprint())
        _write_all(fd, line)
        os.rename(hidden, path)
        segment = _Segment(path, fd)
        segment.size = segment.header = len(line)
        self._segments.append(segment)
        return segment

    def _retire(self, segment: _Segment, *, final: bool = False) -> None:
        if segment is self._current and not final:
            # Everything in it is in the database: start it over (appends hold the lock).
            os.ftruncate(segment.fd, segment.header)
            segment.size = segment.header
            return
        os.unlink(segment.path)
        os.close(segment.fd)
        self._segments.remove(segment)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


_spool: Spool | None = None
_spool_lock = threading.Lock()


def spool() -> Spool | None:
    """This process's spool, opened on first use; None when it is turned off
    (``GATEWAY_SPOOL_DIR`` empty) or its directory is unusable (logged)."""
    global _spool
    directory = settings.GATEWAY_SPOOL_DIR
    if _spool is not None and str(_spool.directory) == str(directory):
        return _spool
    if not directory:
        return None
    with _spool_lock:
        if _spool is None or str(_spool.directory) != str(directory):
            try:
                _spool = Spool(Path(directory), fsync=settings.GATEWAY_SPOOL_FSYNC)
            except OSError:
                logger.exception("call spool unavailable in %s; records are not spooled", directory)
                return None
    return _spool


def spool_reset() -> None:
    """Forget this process's spool (tests: each gets a fresh directory)."""
    global _spool
    with _spool_lock:
        _spool = None


def call_started_hook(record: CallRecord) -> Callable[[Any], None] | None:
    """What the reservation calls once it holds its money: the ``S`` entry."""
    current = spool()
    if current is None:
        return None

    def started(reservation: Any) -> None:
        try:
            current.started(record, reservation)
        except OSError:  # a full disk must not fail the call (nor leak what it reserved)
            logger.exception("call %s could not be spooled", record.id)

    return started
