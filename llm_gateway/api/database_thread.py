"""The API's own thread for its database work, apart from every page's.

Django runs synchronous code for async callers on one "thread-sensitive"
thread unless a request brings its own context. The API's database work (key
lookups, budget reservations, prices) goes through ``sync_to_async`` one call
at a time, and must never queue behind anything else: a dashboard, a probe or
a background task waiting out the pool's timeout during a database outage
would hold it for seconds. Each API request therefore runs in a
``ThreadSensitiveContext`` bound to this process's single API database thread
(Django gives each page request a thread of its own).

The thread keeps its connection between calls, as before (a pool checkout per
call would cost a round trip of its own). Two rules make that safe across an
outage: after an idle spell the connection goes back to the pool, which checks
it before handing it out again (``CONN_HEALTH_CHECKS``), and a connection that
failed is closed at once, so the next call starts on a fresh one instead of a
socket the database dropped while it was away.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.db import InterfaceError, OperationalError, connection

# Idle longer than this and the connection is checked before its next use.
IDLE_RECHECK_SECONDS = 1.0


class _ApiDatabaseThread(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="api-db")
        self._last_used = float("-inf")

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return super().submit(self._run, fn, *args, **kwargs)

    def _run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now - self._last_used > IDLE_RECHECK_SECONDS and not connection.in_atomic_block:
            # Back to the pool, which checks a connection when it hands it out
            # (without a pool: reconnect). Django's own check skips pooled ones.
            connection.close()
        self._last_used = now
        try:
            return fn(*args, **kwargs)
        except (OperationalError, InterfaceError):
            if not connection.in_atomic_block:
                connection.close()  # broken: the next call connects afresh
            raise


api_database_thread = _ApiDatabaseThread()


def api_database_context() -> ThreadSensitiveContext:
    """Enter around one API request (``async with``): its thread-sensitive calls
    run on the API database thread. Background tasks a request starts must not
    inherit it (they would outlive it): start those in a fresh context."""
    return ThreadSensitiveContext(executor=api_database_thread)
