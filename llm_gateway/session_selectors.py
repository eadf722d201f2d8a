"""Reads for the sessions pages: conversations and agent runs, from the call log.

A session is every call that carried the same ``x-gateway-session-id``. The
list reads the summaries the rollup job keeps (costs.attribution_rollups), a
keyset page from one index whatever the size of the log; a session's page
lays its calls out as the tree their trace ids draw: a call whose parent is
another call's span sits under it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from calls.models import CallStatus, LLMCall
from costs.attribution_rollups import facet
from costs.models import SessionSummary
from dashkit.filters import DashboardFilters
from dashkit.keyset import KeysetOrder, KeysetPage, keyset_page

LIST_SIZE = 50
SESSION_CALLS = 1000


# Each order is walked by keyset from its own index (costs.models.SessionSummary).
SESSION_ORDERS = {
    "recent": KeysetOrder("Most recent", "last_at", "datetime"),
    "cost": KeysetOrder("Most expensive", "cost", "decimal"),
    "calls": KeysetOrder("Most calls", "calls", "int"),
    "duration": KeysetOrder("Longest", "duration_s", "float"),
    "errors": KeysetOrder("Most errors", "errors", "int"),
}


def session_list(*, filters: DashboardFilters, after: str = "", size: int = 0) -> KeysetPage:
    """Sessions active in the window (any call in it), a keyset page in the
    filters' order, read from the session summaries: never the call log.

    The user filter matches a session's latest user, and agents and tags match
    those the summary keeps (its first 20 agents and 50 tags)."""
    rows = SessionSummary.objects.filter(last_at__gte=filters.start, first_at__lt=filters.end)
    if filters.agent:
        rows = rows.filter(facets__contains=facet("a", filters.agent))
    if filters.user:
        rows = rows.filter(end_user=filters.user)
    if filters.session:
        rows = rows.filter(session_id__startswith=filters.session)
    if (pair := filters.tag_pair) and pair[0]:
        name, value = pair
        rows = rows.filter(
            facets__contains=facet("t", f"{name}={value}") if value else facet("n", name)
        )
    return keyset_page(
        rows.defer("facets"),
        orders=SESSION_ORDERS,
        order=filters.order if filters.order in SESSION_ORDERS else "recent",
        key="session_id",
        after=after,
        size=size or LIST_SIZE,
    )


@dataclass(frozen=True)
class SessionStep:
    call: LLMCall
    depth: int


@dataclass(frozen=True)
class SessionDetail:
    session_id: str
    steps: list[SessionStep]
    cost: Decimal
    tokens: int
    errors: int
    agents: list[str]
    users: list[str]
    truncated: bool

    @property
    def first_at(self) -> datetime:
        return min(s.call.created_at for s in self.steps)

    @property
    def last_at(self) -> datetime:
        return max(s.call.created_at for s in self.steps)


def session_detail(*, session_id: str) -> SessionDetail | None:
    """A session's calls as a tree of steps, oldest first (at most SESSION_CALLS)."""
    calls = list(
        LLMCall.objects.filter(session_id=session_id)
        .order_by("created_at", "id")
        .defer("request_body", "response_body")[: SESSION_CALLS + 1]
    )
    if not calls:
        return None
    truncated = len(calls) > SESSION_CALLS
    calls = calls[:SESSION_CALLS]
    return SessionDetail(
        session_id=session_id,
        steps=call_tree(calls),
        cost=sum((c.cost for c in calls), Decimal(0)),
        tokens=sum(c.total_tokens for c in calls),
        errors=sum(c.status != CallStatus.SUCCESS for c in calls),
        agents=sorted({c.agent_name for c in calls if c.agent_name}),
        users=sorted({c.end_user for c in calls if c.end_user}),
        truncated=truncated,
    )


def call_tree(calls: Iterable[LLMCall]) -> list[SessionStep]:
    """Calls in time order, each under the call whose span is its parent.

    A parent outside the list (the agent's own span, a call from another
    session) leaves the call at the top level; a loop of ids cannot recurse.
    """
    calls = list(calls)
    by_span = {c.span_id: c for c in calls if c.span_id}
    children: dict[object, list[LLMCall]] = defaultdict(list)
    roots: list[LLMCall] = []
    for call in calls:
        parent = by_span.get(call.parent_id) if call.parent_id else None
        if parent is None or parent is call:
            roots.append(call)
        else:
            children[parent.id].append(call)
    steps: list[SessionStep] = []
    seen: set[object] = set()

    def walk(call: LLMCall, depth: int) -> None:
        if call.id in seen:
            return
        seen.add(call.id)
        steps.append(SessionStep(call, depth))
        for child in children[call.id]:
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    steps.extend(SessionStep(c, 0) for c in calls if c.id not in seen)  # a cycle's members
    return steps
