"""Calendar periods of budgets, in BUDGET_TIMEZONE.

A "day" is the local calendar day: a budget in Europe/Berlin resets at local
midnight, and a DST day lasts 23 or 25 hours. Bounds are computed with local
wall-clock arithmetic and converted to UTC at the end, never by adding fixed
timedeltas to a UTC instant (which drifts by an hour across DST changes).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

PERIODS = ("hourly", "daily", "weekly", "monthly")


def budget_timezone() -> ZoneInfo:
    return ZoneInfo(settings.BUDGET_TIMEZONE)


def period_bounds(
    period: str, *, at: datetime, tz: ZoneInfo | None = None
) -> tuple[datetime, datetime]:
    """The [start, end) of the period containing ``at``, as aware UTC datetimes."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    zone = tz or budget_timezone()
    local = at.astimezone(zone).replace(tzinfo=None)
    start, end = _local_bounds(period, local)
    return _to_utc(start, zone), _to_utc(end, zone)


def _local_bounds(period: str, local: datetime) -> tuple[datetime, datetime]:
    if period == "hourly":
        start = local.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":  # ISO weeks: Monday to Monday
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "monthly":
        start = day.replace(day=1)
        return start, (start + timedelta(days=32)).replace(day=1)
    raise ValueError(f"unknown period {period!r}; expected one of {PERIODS}")


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: a wall time that occurs twice (DST end) means its first occurrence;
    # a wall time that does not exist (DST start) is shifted forward by zoneinfo.
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)
