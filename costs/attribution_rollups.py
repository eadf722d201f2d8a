"""Writes of the attribution rollups: one summary per session, and spend per
end user and per tag for each UTC day.

Run by the usage rollup job (costs.rollups) in its transaction, over the
calls it reads by cursor. Like the usage buckets, each row is recomputed whole
from the call log and replaced, never incremented: a session, a (day, user) or
a (day, tag) touched by one new or late call is read again in full, so
running twice, concurrently or after late rows never double counts.

A session is read whole (the partial index on ``session_id`` finds it), so a
session that outlives the log's retention keeps only the calls still there.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from calls.models import CallStatus, LLMCall
from common.buckets import bucket_floor
from costs.models import SessionSummary, TagDailyRollup, UserDailyRollup

DAY = timedelta(days=1)
# Keys recomputed per query: bounded IN lists and OR-ed containments.
BATCH = 200
# A session may carry many agents and tags; the summary keeps the first ones
# (sorted), enough to show and filter by without an unbounded row.
MAX_AGENTS, MAX_TAGS = 20, 50
FACET_SEP = "\x1f"  # never in a header value, so never in an agent name or tag
_DIMENSIONS = ("agent_name", "model", "provider", "operation")
_SUMS = ("prompt_tokens", "completion_tokens", "cached_tokens", "cost", "saved_cost")
_DAILY_FIELDS = (
    *_DIMENSIONS,
    "created_at",
    "status",
    *_SUMS,
    "cache_hit",
    "retries",
    "fallback",
    "priced",
    "occurrences",
)


def attribution_refresh(calls: QuerySet[LLMCall]) -> int:
    """Recompute every session, (day, user) and (day, tag) that ``calls`` touch."""
    sessions: set[str] = set()
    users: dict[datetime, set[str]] = defaultdict(set)
    tags: dict[datetime, set[str]] = defaultdict(set)
    rows = calls.order_by().values_list("created_at", "session_id", "end_user", "tags")
    for created_at, session_id, end_user, call_tags in rows.iterator(chunk_size=5000):
        day = bucket_floor(created_at, width=DAY)
        if session_id:
            sessions.add(session_id)
        if end_user:
            users[day].add(end_user)
        tags[day].update(tag_pairs(call_tags))
    written = sum(_sessions_replace(batch) for batch in _batches(sessions))
    for day, names in users.items():
        written += sum(_users_replace(day, batch) for batch in _batches(names))
    for day, pairs in tags.items():
        written += sum(_tags_replace(day, batch) for batch in _batches(pairs))
    return written


def tag_pairs(tags: Any) -> list[str]:
    """A call's tags as the filter writes them: ``name=value``."""
    return (
        [f"{name}={value}" for name, value in (tags or {}).items()]
        if isinstance(tags, dict)
        else []
    )


def facets_of(*, agents: Iterable[str], tags: Iterable[str]) -> str:
    """The text a session's agent and tag filters search (see SessionSummary)."""
    parts = [f"a:{a}" for a in agents] + [f"t:{t}" for t in tags]
    parts += sorted({f"n:{t.partition('=')[0]}" for t in tags})
    return FACET_SEP + FACET_SEP.join(parts) + FACET_SEP if parts else ""


def facet(kind: str, value: str) -> str:
    """What ``facets`` contains for one agent ("a"), tag pair ("t") or tag name ("n")."""
    return f"{FACET_SEP}{kind}:{value}{FACET_SEP}"


def _batches(keys: set[Any]) -> Iterator[list[Any]]:
    ordered = sorted(keys)
    for i in range(0, len(ordered), BATCH):
        yield ordered[i : i + BATCH]


# --- sessions ---------------------------------------------------------------------------

_SESSION_FIELDS = (
    "session_id",
    "created_at",
    "status",
    "total_tokens",
    "cost",
    "agent_name",
    "end_user",
    "tags",
    "occurrences",
)


def _sessions_replace(batch: list[str]) -> int:
    # The exclude repeats the partial index's condition: the planner cannot
    # prove it from an IN list of more than 100 values, and would scan the log.
    calls = (
        LLMCall.objects.filter(session_id__in=batch)
        .exclude(session_id="")
        .order_by()  # no sort: the fold takes calls in any order
        .values_list(*_SESSION_FIELDS)
    )
    folded: dict[str, dict[str, Any]] = {}
    for row in calls.iterator(chunk_size=5000):
        call = dict(zip(_SESSION_FIELDS, row, strict=True))
        _session_add(folded.setdefault(call["session_id"], _session_empty()), call)
    SessionSummary.objects.filter(session_id__in=batch).delete()
    SessionSummary.objects.bulk_create(
        _session_row(session_id, values) for session_id, values in folded.items()
    )
    return len(folded)


def _session_empty() -> dict[str, Any]:
    return {
        "first_at": None,
        "last_at": None,
        "calls": 0,
        "errors": 0,
        "tokens": 0,
        "cost": Decimal(0),
        "agents": set(),
        "tags": set(),
        "user_at": None,
        "end_user": "",
    }


def _session_add(session: dict[str, Any], call: dict[str, Any]) -> None:
    at = call["created_at"]
    session["first_at"] = min(filter(None, (session["first_at"], at)))
    session["last_at"] = max(filter(None, (session["last_at"], at)))
    session["calls"] += call["occurrences"]
    if call["status"] != CallStatus.SUCCESS:
        session["errors"] += call["occurrences"]
    session["tokens"] += call["total_tokens"]
    session["cost"] += call["cost"]
    if call["agent_name"]:
        session["agents"].add(call["agent_name"])
    session["tags"].update(tag_pairs(call["tags"]))
    # The user of the latest call that named one: a session usually has one.
    if call["end_user"] and (session["user_at"] is None or at >= session["user_at"]):
        session["user_at"], session["end_user"] = at, call["end_user"]


def _session_row(session_id: str, values: dict[str, Any]) -> SessionSummary:
    agents = sorted(values["agents"])[:MAX_AGENTS]
    tags = sorted(values["tags"])[:MAX_TAGS]
    return SessionSummary(
        session_id=session_id,
        first_at=values["first_at"],
        last_at=values["last_at"],
        duration_s=(values["last_at"] - values["first_at"]).total_seconds(),
        calls=values["calls"],
        errors=values["errors"],
        tokens=values["tokens"],
        cost=values["cost"],
        agents=agents,
        end_user=values["end_user"],
        tags=tags,
        facets=facets_of(agents=agents, tags=tags),
    )


# --- users and tags per day -------------------------------------------------------------


def _users_replace(day: datetime, batch: list[str]) -> int:
    calls = (
        LLMCall.objects.filter(end_user__in=batch, created_at__gte=day, created_at__lt=day + DAY)
        .exclude(end_user="")  # the partial index's condition (see _sessions_replace)
        .order_by()
        .values_list("end_user", *_DAILY_FIELDS)
    )
    folded: dict[tuple, dict[str, Any]] = defaultdict(_daily_empty)
    for end_user, *row in calls.iterator(chunk_size=5000):
        call = dict(zip(_DAILY_FIELDS, row, strict=True))
        _daily_add(folded[(end_user, *row[: len(_DIMENSIONS)])], call)
    UserDailyRollup.objects.filter(bucket_start=day, end_user__in=batch).delete()
    UserDailyRollup.objects.bulk_create(
        UserDailyRollup(bucket_start=day, end_user=key[0], **_daily_row(key[1:], values))
        for key, values in folded.items()
    )
    return len(folded)


def _tags_replace(day: datetime, batch: list[str]) -> int:
    wanted = set(batch)
    calls = (
        LLMCall.objects.filter(_tags_match(batch), created_at__gte=day, created_at__lt=day + DAY)
        .order_by()
        .values_list("tags", *_DAILY_FIELDS)
    )
    folded: dict[tuple, dict[str, Any]] = defaultdict(_daily_empty)
    for call_tags, *row in calls.iterator(chunk_size=5000):
        call = dict(zip(_DAILY_FIELDS, row, strict=True))
        for pair in wanted.intersection(tag_pairs(call_tags)):
            _daily_add(folded[(pair, *row[: len(_DIMENSIONS)])], call)
    TagDailyRollup.objects.filter(bucket_start=day, tag__in=batch).delete()
    TagDailyRollup.objects.bulk_create(
        TagDailyRollup(
            bucket_start=day,
            tag=key[0],
            tag_name=key[0].partition("=")[0],
            **_daily_row(key[1:], values),
        )
        for key, values in folded.items()
    )
    return len(folded)


def _tags_match(pairs: list[str]) -> Q:
    """Calls carrying any of ``pairs``. On PostgreSQL each is a containment the
    GIN index on tags answers; SQLite (development) reads the day's tagged calls
    and the fold keeps the wanted pairs."""
    if connection.vendor != "postgresql":
        return ~Q(tags={})
    query = Q()
    for pair in pairs:
        name, _, value = pair.partition("=")
        query |= Q(tags__contains={name: value})
    return query


def _daily_empty() -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(
        ("calls", "errors", "cache_hits", "retries", "fallbacks", "unpriced_calls", *_SUMS), 0
    )
    values.update(cost=Decimal(0), saved_cost=Decimal(0), last_seen=None)
    return values


def _daily_add(values: dict[str, Any], call: dict[str, Any]) -> None:
    times = call["occurrences"]
    values["calls"] += times
    values["errors"] += times if call["status"] != CallStatus.SUCCESS else 0
    for name in _SUMS:
        values[name] += call[name]
    values["cache_hits"] += int(call["cache_hit"])
    values["retries"] += call["retries"]
    values["fallbacks"] += int(bool(call["fallback"]))
    values["unpriced_calls"] += int(not call["priced"])
    values["last_seen"] = max(filter(None, (values["last_seen"], call["created_at"])))


def _daily_row(dimensions: tuple, values: dict[str, Any]) -> dict[str, Any]:
    return {**dict(zip(_DIMENSIONS, dimensions, strict=True)), **values}
