"""Time buckets: UTC days, months and fixed-width buckets aligned to the epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def bucket_floor(moment: datetime, *, width: timedelta) -> datetime:
    """Floor to a multiple of ``width`` since the epoch (UTC midnight-aligned)."""
    seconds = int(width.total_seconds())
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=UTC)


def bucket_range(*, start: datetime, end: datetime, width: timedelta) -> list[datetime]:
    """Every bucket start of the window, so charts show gaps as zero, not as a jump."""
    out, current = [], bucket_floor(start, width=width)
    while current < end:
        out.append(current)
        current += width
    return out


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The UTC calendar month holding ``now``: [first day, first day of the next)."""
    start = month_start(now)
    return start, (start + timedelta(days=32)).replace(day=1)
