"""Reads over the per-user and per-tag day rollups: the users page, and the
costs page when it is filtered or stacked by user or tag.

These rollups count whole UTC days, so a window is widened to the days it
touches (a 24 h window reads two days); "last seen" keeps the exact time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from django.db.models import Max, QuerySet, Sum

from common.buckets import bucket_floor, bucket_range, day_start
from costs.models import TagDailyRollup, UserDailyRollup
from costs.usage import DIMENSION_FIELDS, ZERO, UsageFilter, rollups_for
from dashkit.figures import Series
from dashkit.filters import DashboardFilters

DAY = timedelta(days=1)
# Stack-by choices of the costs page and the rollup column each reads.
GROUP_FIELDS = {**DIMENSION_FIELDS, "user": "end_user", "tag": "tag"}
USERS_PAGE_SIZE = 50
# Users are ranked by an aggregate, which a keyset cannot seek into cheaply:
# the list is paged by offset, and bounded so a page never sorts more than this.
USERS_MAX_PAGES = 20


@dataclass(frozen=True)
class SpendSource:
    """Which rollup answers a costs view, and at what bucket width."""

    rows: QuerySet[Any]
    bucket: timedelta
    kind: str  # "usage", "user" or "tag"
    ignored: str = ""  # a filter or stack-by the source cannot apply, said on the page

    @property
    def attributed(self) -> bool:
        return self.kind != "usage"

    def column(self, group: str) -> str:
        """The rollup column of a stack-by; one these rows lack (users on tag
        rows) falls back to the model."""
        name = GROUP_FIELDS.get(group, "model")
        return name if name in {f.name for f in self.rows.model._meta.fields} else "model"

    def described(self) -> dict[str, Any]:
        """What a page says about the source: plain values, never the queryset
        (sections are cached, and pickling a queryset would fetch all its rows)."""
        return {
            "kind": self.kind,
            "attributed": self.attributed,
            "ignored": self.ignored,
            "bucket_label": {60: "minute", 3600: "hour", 86400: "day"}[
                int(self.bucket.total_seconds())
            ],
        }


def _days(rows: QuerySet[Any], filters: DashboardFilters) -> QuerySet[Any]:
    return rows.filter(
        UsageFilter.of(filters).q(),
        bucket_start__gte=day_start(filters.start),
        bucket_start__lt=filters.end,
    )


def spend_source(filters: DashboardFilters) -> SpendSource:
    """The usage rollups, unless the view names a user or a tag (filter or stack).

    A tag and a user cannot be combined (no rollup holds both): the tag wins
    and the page says the user filter was not applied."""
    pair = filters.tag_pair
    bucket = max(filters.bucket, DAY)
    if (pair and pair[0]) or filters.group == "tag":
        rows = _days(TagDailyRollup.objects.all(), filters)
        if pair and pair[0]:
            rows = (
                rows.filter(tag=f"{pair[0]}={pair[1]}")
                if pair[1]
                else rows.filter(tag_name=pair[0])
            )
        ignored = "user" if filters.user or filters.group == "user" else ""
        return SpendSource(rows, bucket, "tag", ignored=ignored)
    if filters.user or filters.group == "user":
        rows = _days(UserDailyRollup.objects.all(), filters)
        if filters.user:
            rows = rows.filter(end_user=filters.user)
        return SpendSource(rows, bucket, "user")
    return SpendSource(rollups_for(filters), filters.bucket, "usage")


# --- users ------------------------------------------------------------------------------


class UserOrder(NamedTuple):
    label: str
    aggregate: str  # sorted biggest first


# By name (dashkit.filters.LIST_ORDERS).
USER_ORDERS = {
    "recent": UserOrder("Last seen", "last_seen"),
    "cost": UserOrder("Most spend", "cost_sum"),
    "calls": UserOrder("Most calls", "calls_sum"),
    "errors": UserOrder("Most errors", "errors_sum"),
}


@dataclass(frozen=True)
class UserRow:
    end_user: str
    calls: int
    errors: int
    tokens: int
    cost: Decimal
    last_seen: datetime

    @property
    def error_pct(self) -> float:
        return self.errors * 100 / self.calls if self.calls else 0.0


@dataclass(frozen=True)
class UserPage:
    rows: list[UserRow]
    number: int
    has_next: bool

    @property
    def is_first(self) -> bool:
        return self.number == 1

    @property
    def next_query(self) -> str:
        return f"page={self.number + 1}" if self.has_next else ""


def users_page(*, filters: DashboardFilters, page: int = 1) -> UserPage:
    """End users active in the window's days, in the filters' order."""
    number = min(max(page, 1), USERS_MAX_PAGES)
    order = USER_ORDERS.get(filters.order, USER_ORDERS["recent"]).aggregate
    offset = (number - 1) * USERS_PAGE_SIZE
    rows = (
        _days(UserDailyRollup.objects.all(), filters)
        .values("end_user")
        .annotate(
            calls_sum=Sum("calls"),
            errors_sum=Sum("errors"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cost_sum=Sum("cost"),
            last_seen=Max("last_seen"),
        )
        .order_by(f"-{order}", "end_user")
    )
    found = [
        UserRow(
            end_user=r["end_user"],
            calls=r["calls_sum"],
            errors=r["errors_sum"],
            tokens=(r["prompt"] or 0) + (r["completion"] or 0),
            cost=r["cost_sum"] or ZERO,
            last_seen=r["last_seen"],
        )
        for r in rows[offset : offset + USERS_PAGE_SIZE + 1]
    ]
    more = len(found) > USERS_PAGE_SIZE and number < USERS_MAX_PAGES
    return UserPage(rows=found[:USERS_PAGE_SIZE], number=number, has_next=more)


def users_spend_series(*, filters: DashboardFilters, users: list[str]) -> list[Series]:
    """Spend per day of each of ``users`` over the window: the users chart."""
    rows = (
        _days(UserDailyRollup.objects.filter(end_user__in=users), filters)
        .values("end_user", "bucket_start")
        .annotate(cost=Sum("cost"))
    )
    per_user: dict[str, dict[datetime, Decimal]] = {u: {} for u in users}
    for row in rows:
        day = bucket_floor(row["bucket_start"], width=DAY)
        per_user[row["end_user"]][day] = per_user[row["end_user"]].get(day, ZERO) + row["cost"]
    days = bucket_range(start=day_start(filters.start), end=filters.end, width=DAY)
    return [
        Series(name=user, x=days, y=[float(per_user[user].get(d, ZERO)) for d in days])
        for user in users
    ]
