"""The dashboard filters, parsed once from the query string.

Filters live in the query string so any view can be shared as a link. Every
page parses them here into one typed, validated object; a bad value falls
back to its default instead of raising, because a hand-edited link should
still open a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.http import QueryDict
from django.utils import timezone

from common.buckets import bucket_floor
from common.operations import OPERATIONS

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_LABELS = {"1h": "1 h", "24h": "24 h", "7d": "7 d", "30d": "30 d", "custom": "Custom"}
DEFAULT_RANGE = "24h"
# Custom ranges are capped so a typo cannot ask for a decade of buckets.
MAX_CUSTOM_SPAN = timedelta(days=400)
STATUSES = ("success", "error", "client_disconnected", "blocked", "rate_limited", "unauthorized")
VALIDATION_OUTCOMES = ("valid", "invalid", "unvalidated")
# The costs page stacks spend by these; "user" and "tag" read the attribution rollups.
GROUPS = ("model", "agent", "provider", "operation", "user", "tag")
# Request explorer orders (llm_gateway.call_order); the first is the default.
SORTS = ("newest", "oldest", "cost", "latency")
# Orders of the sessions and users lists; the first is the default.
LIST_ORDERS = ("recent", "cost", "calls", "duration", "errors")
TEXT_PARAMS = (
    "agent",
    "model",
    "provider",
    "operation",
    "status",
    "validation",
    "q",
    "session",
    "user",
    "tag",
    "trace",
)


@dataclass(frozen=True)
class DashboardFilters:
    """What every dashboard shows: a time window plus optional dimensions."""

    range: str
    start: datetime
    end: datetime
    agent: str = ""
    model: str = ""
    provider: str = ""
    operation: str = ""  # chat, embeddings, responses… (llm_gateway.operations)
    status: str = ""
    validation: str = ""
    min_cost: Decimal | None = None
    q: str = ""
    group: str = "model"
    sort: str = "newest"
    order: str = "recent"  # sessions and users lists (LIST_ORDERS)
    # Attribution (request explorer): a session, an end user, a tag "name=value", a trace.
    session: str = ""
    user: str = ""
    tag: str = ""
    trace: str = ""

    @property
    def granularity(self) -> str:
        """Minute rollups for short windows, hour rollups otherwise."""
        return "minute" if self.end - self.start <= timedelta(hours=3) else "hour"

    @property
    def bucket(self) -> timedelta:
        """Width of one point on a time chart: enough points, never too many."""
        span = self.end - self.start
        if span <= timedelta(hours=3):
            return timedelta(minutes=1)
        if span <= timedelta(days=8):
            return timedelta(hours=1)
        return timedelta(days=1)

    @property
    def bucket_label(self) -> str:
        return {60: "minute", 3600: "hour", 86400: "day"}[int(self.bucket.total_seconds())]

    def params(self, **overrides: str) -> dict[str, str]:
        """The non-default filters as query parameters (for links and exports)."""
        values: dict[str, str] = {"range": self.range}
        if self.range == "custom":
            values["start"] = self.start.strftime("%Y-%m-%dT%H:%M")
            values["end"] = self.end.strftime("%Y-%m-%dT%H:%M")
        for name in TEXT_PARAMS:
            if value := getattr(self, name):
                values[name] = value
        if self.min_cost is not None:
            values["min_cost"] = str(self.min_cost)
        if self.group != "model":
            values["group"] = self.group
        if self.sort != SORTS[0]:
            values["sort"] = self.sort
        if self.order != LIST_ORDERS[0]:
            values["order"] = self.order
        values.update(overrides)
        return {k: v for k, v in values.items() if v != ""}

    def querystring(self, **overrides: str) -> str:
        return urlencode(self.params(**overrides))

    @property
    def has_attribution(self) -> bool:
        return bool(self.session or self.user or self.tag or self.trace)

    @property
    def tag_pair(self) -> tuple[str, str] | None:
        """The tag filter as (name, value); a bare name matches any value."""
        if not self.tag:
            return None
        name, _, value = self.tag.partition("=")
        return name.strip(), value.strip()

    @property
    def has_dimensions(self) -> bool:
        return bool(self.agent or self.model or self.provider or self.operation)


def _parse_datetime(raw: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    # Inputs without an offset are UTC: the dashboard's clock is UTC everywhere.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_min_cost(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() and value >= 0 else None


def _window(query: QueryDict, *, now: datetime) -> tuple[str, datetime, datetime]:
    key = query.get("range", DEFAULT_RANGE)
    if key == "custom":
        start = _parse_datetime(query.get("start", ""))
        end = _parse_datetime(query.get("end", "")) or now
        if start is not None and start < end and end - start <= MAX_CUSTOM_SPAN:
            return key, start, min(end, now)
        key = DEFAULT_RANGE
    if key not in RANGES:
        key = DEFAULT_RANGE
    span = RANGES[key]
    # Align to the rollup bucket so a window covers whole buckets only.
    width = timedelta(minutes=1) if span <= timedelta(hours=3) else timedelta(hours=1)
    return key, bucket_floor(now - span, width=width), now


def _choice(query: QueryDict, name: str, allowed: tuple[str, ...], default: str = "") -> str:
    value = query.get(name, default)
    return value if value in allowed else default


def filters_parse(query: QueryDict, *, now: datetime | None = None) -> DashboardFilters:
    """Read the dashboard filters from a request's GET parameters."""
    now = now or timezone.now()
    key, start, end = _window(query, now=now)
    return DashboardFilters(
        range=key,
        start=start,
        end=end,
        agent=query.get("agent", "").strip()[:200],
        model=query.get("model", "").strip()[:200],
        provider=query.get("provider", "").strip()[:100],
        operation=_choice(query, "operation", OPERATIONS),
        status=_choice(query, "status", STATUSES),
        validation=_choice(query, "validation", VALIDATION_OUTCOMES),
        min_cost=_parse_min_cost(query.get("min_cost", "")),
        q=query.get("q", "").strip()[:200],
        group=_choice(query, "group" if "group" in query else "by", GROUPS, default="model"),
        sort=_choice(query, "sort", SORTS, default=SORTS[0]),
        order=_choice(query, "order", LIST_ORDERS, default=LIST_ORDERS[0]),
        session=query.get("session", "").strip()[:200],
        user=query.get("user", "").strip()[:256],
        tag=query.get("tag", "").strip()[:321],  # name (64) = value (256)
        trace=query.get("trace", "").strip().lower()[:32],
    )
