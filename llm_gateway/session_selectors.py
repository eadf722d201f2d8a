"""Reads for the sessions pages: conversations and agent runs, from the call log.

A session is every call that carried the same ``x-gateway-session-id``. The
list groups the window's calls by session (the partial index on
``(session_id, created_at)`` holds only calls that have one); a session's page
lays its calls out as the tree their trace ids draw: a call whose parent is
another call's span sits under it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Max, Min, Q, Sum

from calls.models import CallStatus, LLMCall
from dashkit.filters import DashboardFilters

LIST_SIZE = 100
SESSION_CALLS = 1000


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    first_at: datetime
    last_at: datetime
    calls: int
    errors: int
    tokens: int
    cost: Decimal
    agent: str
    end_user: str

    @property
    def duration(self) -> timedelta:
        return self.last_at - self.first_at


def session_list(*, filters: DashboardFilters, size: int = LIST_SIZE) -> list[SessionRow]:
    """Sessions active in the window, the most recent first."""
    calls = LLMCall.objects.filter(
        created_at__gte=filters.start, created_at__lt=filters.end
    ).exclude(session_id="")
    exact = {"agent_name": filters.agent, "model": filters.model, "end_user": filters.user}
    calls = calls.filter(**{k: v for k, v in exact.items() if v})
    if filters.session:
        calls = calls.filter(session_id__startswith=filters.session)
    rows = (
        calls.values("session_id")
        .annotate(
            first_at=Min("created_at"),
            last_at=Max("created_at"),
            calls=Count("id"),
            errors=Count("id", filter=~Q(status=CallStatus.SUCCESS)),
            tokens=Sum("total_tokens"),
            cost=Sum("cost"),
            agent=Max("agent_name"),
            end_user=Max("end_user"),
        )
        .order_by("-last_at")[:size]
    )
    return [SessionRow(**row) for row in rows]


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
