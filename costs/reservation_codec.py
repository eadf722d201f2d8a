"""A budget reservation as plain data, for the call log's write-ahead spool.

The spool (``calls.spool``) journals a call's reservation as soon as it is
held, and its record with it when the call ends, so that a process killed
before its batch reached the database still has its reservation settled (or
released) by the replay, in the transaction that inserts the call's row. The
call log may not import costs, so CostsConfig.ready() registers these two.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from costs.reservations import Reservation


def reservation_encode(reservation: Reservation) -> dict[str, Any] | None:
    """What settling it needs; None when it holds nothing on any counter."""
    if not reservation.counter_ids:
        return None
    return {"amount": str(reservation.amount), "counter_ids": list(reservation.counter_ids)}


def reservation_decode(data: dict[str, Any]) -> Reservation:
    """A reservation not settled yet: the replay settles it only with a new row."""
    return Reservation(
        amount=Decimal(data["amount"]), counter_ids=tuple(int(i) for i in data["counter_ids"])
    )
