"""Writing a call's record through a short database outage.

A call that reached a provider has cost money and must be recorded exactly
once, even if the database restarts while the answer is on its way. The write
is retried (with a fresh connection each time) until a deadline; the row's
primary key is the call's uuid, so an attempt whose commit landed but whose
acknowledgement was lost shows up as a duplicate key on the retry, which
means "already recorded", never a second row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)
T = TypeVar("T")


def write_through_outage(write: Callable[[], T], *, already_written: Callable[[], T | None]) -> T:
    """Run ``write``; on a lost database retry until CALL_RECORD_RETRY_SECONDS pass.

    Only outside a transaction: inside one, a broken connection has already
    lost the transaction's earlier work and the caller must decide.
    """
    deadline = time.monotonic() + getattr(settings, "CALL_RECORD_RETRY_SECONDS", 30.0)
    delay, retried = 0.1, False
    while True:
        try:
            return write()
        except IntegrityError:
            found = already_written() if retried else None
            if found is None:
                raise
            return found
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or time.monotonic() + delay > deadline:
                raise
            logger.warning("database unavailable while recording a call; retrying")
            connection.close()  # the broken connection goes back to the pool to be discarded
            time.sleep(delay)
            delay, retried = min(delay * 2, 2.0), True
