"""Reads about the response cache for dashboards: JSON-ready data.

Hit rates and savings come from the usage rollups (``cache_hits``,
``saved_cost``), never from the raw log. (The "repeated prompts" advice, which
does need the raw log, lives in ``costs.call_patterns``.)
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from common.buckets import bucket_floor
from costs.models import Granularity
from costs.rollups import STEP
from costs.usage import rollups_in

BUCKETS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_ZERO = Decimal(0)


def cache_savings_series(*, start: datetime, end: datetime, bucket: str = "hour") -> dict[str, Any]:
    """Calls, hits, hit rate, money saved and spent per bucket of [start, end).

    ``bucket`` is "minute", "hour" or "day" (UTC days, folded from hour rollups).
    Every bucket in the range is present, zeros included, so a chart's x axis
    has no gaps.
    """
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {sorted(BUCKETS)}")
    granularity = Granularity.MINUTE if bucket == "minute" else Granularity.HOUR
    start_bucket = bucket_floor(start, width=STEP[granularity])
    rows = (
        rollups_in(start=start_bucket, end=end, granularity=granularity)
        .values("bucket_start")
        .annotate(
            calls=Sum("calls"), hits=Sum("cache_hits"), saved=Sum("saved_cost"), cost=Sum("cost")
        )
    )
    sums: dict[datetime, list] = defaultdict(lambda: [0, 0, _ZERO, _ZERO])
    for row in rows:
        slot = sums[_floor(row["bucket_start"], bucket)]
        slot[0] += row["calls"] or 0
        slot[1] += row["hits"] or 0
        slot[2] += row["saved"] or _ZERO
        slot[3] += row["cost"] or _ZERO
    points = []
    moment = _floor(start, bucket)
    while moment < end:
        calls, hits, saved, cost = sums.get(moment, (0, 0, _ZERO, _ZERO))
        points.append({"start": moment.isoformat(), **_figures(calls, hits, saved, cost)})
        moment += BUCKETS[bucket]
    return {"bucket": bucket, "points": points}


def cache_totals(*, start: datetime, end: datetime) -> dict[str, Any]:
    """Totals over [start, end) and per agent (largest saving first)."""
    by_agent: dict[str, list] = defaultdict(lambda: [0, 0, _ZERO, _ZERO])
    rows = (
        rollups_in(start=start, end=end)
        .values("agent_name")
        .annotate(
            calls=Sum("calls"), hits=Sum("cache_hits"), saved=Sum("saved_cost"), cost=Sum("cost")
        )
    )
    for row in rows:
        slot = by_agent[row["agent_name"]]
        for i, name in enumerate(("calls", "hits", "saved", "cost")):
            slot[i] += row[name] or 0
    total = [sum(slot[i] for slot in by_agent.values()) for i in range(4)]
    agents = sorted(by_agent.items(), key=lambda item: (-item[1][2], item[0]))
    return {
        **_figures(total[0], total[1], Decimal(total[2]), Decimal(total[3])),
        "by_agent": [{"agent": agent, **_figures(*slot)} for agent, slot in agents],
    }


def _figures(calls: int, hits: int, saved: Decimal, cost: Decimal) -> dict[str, Any]:
    return {
        "calls": calls,
        "cache_hits": hits,
        "hit_rate": round(hits / calls, 4) if calls else 0.0,
        "saved_cost": str(saved),
        "cost": str(cost),
    }


def _floor(moment: datetime, bucket: str) -> datetime:
    utc = moment.astimezone(UTC).replace(second=0, microsecond=0)
    if bucket == "minute":
        return utc
    utc = utc.replace(minute=0)
    return utc.replace(hour=0) if bucket == "day" else utc
