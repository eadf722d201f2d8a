"""Keep caches and derived data in step with the database."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from costs.budgets import budgets_changed
from costs.pricing import invalidate_price_table
from costs.tasks import usage_refresh_task

logger = logging.getLogger(__name__)

REFRESH_PENDING_KEY = "costs:usage_refresh_pending"


def price_changed(sender: type, **kwargs: Any) -> None:
    """Connected to ModelPrice post_save/post_delete in CostsConfig.ready().

    Queryset.update() sends no signal: callers of it must call
    invalidate_price_table() themselves.
    """
    invalidate_price_table()


def budget_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    budgets_changed(budget_id=instance.pk)


def calls_recorded(sender: type, created: bool = True, **kwargs: Any) -> None:
    """Calls were written (calls_written from the call writer, or post_save of a
    row saved elsewhere): refresh rollups and budgets soon, at most once per
    USAGE_REFRESH_SECONDS however many calls arrive (the beat schedule is the
    backstop). Runs after commit so a worker can see the rows."""
    if created:
        transaction.on_commit(_usage_refresh_schedule, robust=True)


# The record writer commits a batch every ~10 ms under load, and asking the
# shared cache each time was a cache round trip per batch (1–2 % of the
# gateway's CPU). A refresh queued now runs USAGE_REFRESH_SECONDS from now and
# covers every row committed before then, so for a while this process need not
# ask again; when another process holds the key, we do not know when its refresh
# runs, so we ask again a second later at the latest.
_ASK_AGAIN_MAX_SECONDS = 1.0
_quiet_until = 0.0


def _usage_refresh_schedule() -> None:
    global _quiet_until
    interval = settings.USAGE_REFRESH_SECONDS
    now = time.monotonic()
    if now < _quiet_until:
        return
    _quiet_until = now + min(interval / 2, _ASK_AGAIN_MAX_SECONDS)
    try:
        if not cache.add(REFRESH_PENDING_KEY, 1, timeout=interval):
            return  # a refresh is already queued for this window
        _quiet_until = now + interval / 2
        # The countdown lets the rollup's commit lag pass for the newest rows.
        usage_refresh_task.apply_async(countdown=interval)
    except Exception:  # noqa: BLE001 - a broker or cache outage must not fail a call
        logger.warning("usage refresh not queued; the periodic task will catch up")


def usage_refresh_quiet_reset() -> None:
    """Ask the shared cache again on the next batch (tests clear that cache)."""
    global _quiet_until
    _quiet_until = 0.0
