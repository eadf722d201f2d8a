"""Keep every process's in-memory price table in step with the database."""

from __future__ import annotations

from typing import Any

from costs.pricing import invalidate_price_table


def price_changed(sender: type, **kwargs: Any) -> None:
    """Connected to ModelPrice post_save/post_delete in CostsConfig.ready().

    Queryset.update() sends no signal: callers of it must call
    invalidate_price_table() themselves.
    """
    invalidate_price_table()
