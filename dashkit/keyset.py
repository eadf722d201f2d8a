"""Keyset pages over any table: "the next ``size`` rows after this one", biggest first.

Page 200 costs what page 1 costs and a row arriving meanwhile never shifts
rows between pages. Every order ends on the table's unique key, so the cursor
is a strict position even when values tie (many sessions cost the same). The
cursor names its order: a cursor from another order is refused, not misread.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Model, Q, QuerySet

PARSERS: dict[str, Callable[[str], Any]] = {
    "datetime": datetime.fromisoformat,
    "decimal": Decimal,
    "int": int,
    "float": float,
}


@dataclass(frozen=True)
class KeysetOrder:
    label: str
    field: str
    kind: str  # a PARSERS name: how the cursor's value is read back


@dataclass(frozen=True)
class KeysetPage:
    rows: list[Any]
    next_cursor: str | None
    is_first: bool

    @property
    def next_query(self) -> str:
        """The query parameter of the next page ("" on the last)."""
        return f"after={self.next_cursor}" if self.next_cursor else ""


def keyset_page(
    rows: QuerySet[Any],
    *,
    orders: dict[str, KeysetOrder],
    order: str,
    key: str,
    after: str,
    size: int,
) -> KeysetPage:
    """One page of ``rows`` in ``orders[order]`` (descending), after the cursor.

    A forged or foreign cursor gives the first page rather than an error: a
    hand-edited link still opens."""
    field = orders[order].field
    rows = rows.order_by(f"-{field}", f"-{key}")
    position = _decode(after, order=order, kind=orders[order].kind) if after else None
    if position is not None:
        value, last = position
        # The inclusive bound first gives the planner a range on the sort column.
        rows = rows.filter(**{f"{field}__lte": value}).filter(
            Q(**{f"{field}__lt": value}) | Q(**{f"{key}__lt": last})
        )
    found = list(rows[: size + 1])
    more = len(found) > size
    found = found[:size]
    cursor = _encode(found[-1], order=order, field=field, key=key) if more else None
    return KeysetPage(rows=found, next_cursor=cursor, is_first=position is None)


def _encode(row: Model, *, order: str, field: str, key: str) -> str:
    value = getattr(row, field)
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    raw = json.dumps([order, text, getattr(row, key)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str, *, order: str, kind: str) -> tuple[Any, str] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        name, value, last = json.loads(raw)
        if name != order or not isinstance(last, str) or not isinstance(value, str):
            return None
        return PARSERS[kind](value), last
    except (ValueError, TypeError, UnicodeDecodeError, InvalidOperation):
        return None
