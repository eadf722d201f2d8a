"""Read side of feedback, for the quality page: how much there is, how good, by
agent and model, and the latest negative scores to open.

Feedback rows carry their call's agent and model (validation.feedback), so
these read the feedback table alone, never the call log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Avg, Count, Q, QuerySet

from validation.models import Feedback

# A thumbs-down is 0 on the 0/1 scale; on the -1…1 scale anything below 0.
NEGATIVE = Q(score__lte=0)


@dataclass(frozen=True)
class FeedbackSummary:
    count: int
    calls_scored: int
    mean_score: float | None
    negative: int

    @property
    def positive_pct(self) -> float:
        return (self.count - self.negative) / self.count * 100 if self.count else 0.0


@dataclass(frozen=True)
class FeedbackGroup:
    agent_name: str
    model: str
    count: int
    mean_score: float
    negative: int


def _window(*, start: datetime, end: datetime, agent: str = "") -> QuerySet[Feedback]:
    rows = Feedback.objects.filter(created_at__gte=start, created_at__lt=end)
    return rows.filter(agent_name=agent) if agent else rows


def feedback_summary(*, start: datetime, end: datetime, agent: str = "") -> FeedbackSummary:
    totals = _window(start=start, end=end, agent=agent).aggregate(
        count=Count("id"),
        calls=Count("call_id", distinct=True),
        mean=Avg("score"),
        negative=Count("id", filter=NEGATIVE),
    )
    return FeedbackSummary(totals["count"], totals["calls"], totals["mean"], totals["negative"])


def feedback_by_agent_model(
    *, start: datetime, end: datetime, agent: str = "", limit: int = 20
) -> list[FeedbackGroup]:
    """Mean score per (agent, model), the most scored first."""
    rows = (
        _window(start=start, end=end, agent=agent)
        .values("agent_name", "model")
        .annotate(count=Count("id"), mean=Avg("score"), negative=Count("id", filter=NEGATIVE))
        .order_by("-count", "agent_name", "model")[:limit]
    )
    return [
        FeedbackGroup(r["agent_name"], r["model"], r["count"], r["mean"], r["negative"])
        for r in rows
    ]


def negative_feedback(
    *, start: datetime, end: datetime, agent: str = "", limit: int = 10
) -> list[Feedback]:
    rows = _window(start=start, end=end, agent=agent).filter(NEGATIVE)
    return list(rows.order_by("-created_at")[:limit])


def feedback_by_call(*, call_ids: Iterable[object]) -> dict[object, list[Feedback]]:
    """Each call's feedback, oldest first (a session page's steps): one query."""
    found: dict[object, list[Feedback]] = defaultdict(list)
    for row in Feedback.objects.filter(call_id__in=list(call_ids)).order_by("created_at", "id"):
        found[row.call_id].append(row)
    return dict(found)
