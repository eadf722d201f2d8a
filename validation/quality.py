"""Reads of validation results for the overview and the quality page.

Validation results are one row per validated call (no rollup exists for
them), so every read here is bounded: aggregates run in the database over the
indexed ``created_at`` range, and the per-rule breakdown, which has to open
each result's checks JSON, looks at the latest ``FAILING_SAMPLE`` failures only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour, TruncMinute

from common.buckets import bucket_range
from dashkit.figures import Series
from dashkit.filters import DashboardFilters
from validation.models import ValidationResult

FAILING_SAMPLE = 5000
_TRUNC = {60: TruncMinute, 3600: TruncHour, 86400: TruncDay}


@dataclass(frozen=True)
class QualitySummary:
    validated: int
    valid: int
    mean_score: float | None

    @property
    def failed(self) -> int:
        return self.validated - self.valid

    @property
    def pass_rate_pct(self) -> float | None:
        return self.valid / self.validated * 100 if self.validated else None


def _aggregate(results: QuerySet[ValidationResult]) -> QualitySummary:
    agg = results.aggregate(
        n=Count("id"), valid=Count("id", filter=Q(is_valid=True)), score=Avg("quality_score")
    )
    return QualitySummary(validated=agg["n"], valid=agg["valid"], mean_score=agg["score"])


def quality_summary(*, start: datetime, end: datetime, agent: str = "") -> QualitySummary:
    return _aggregate(_results(start=start, end=end, agent=agent))


def _results(*, start: datetime, end: datetime, agent: str = "") -> QuerySet[ValidationResult]:
    results = ValidationResult.objects.filter(created_at__gte=start, created_at__lt=end)
    return results.filter(agent_name=agent) if agent else results


def results_for(filters: DashboardFilters) -> QuerySet[ValidationResult]:
    return _results(start=filters.start, end=filters.end, agent=filters.agent)


def quality_series(*, filters: DashboardFilters) -> list[Series]:
    """Pass rate and mean score (both 0–1) per bucket; buckets without results stay None."""
    trunc = _TRUNC[int(filters.bucket.total_seconds())]
    rows = (
        results_for(filters)
        .order_by()
        .annotate(bucket=trunc("created_at", tzinfo=UTC))
        .values("bucket")
        .annotate(
            n=Count("id"), valid=Count("id", filter=Q(is_valid=True)), score=Avg("quality_score")
        )
    )
    by_bucket = {row["bucket"]: row for row in rows}
    buckets = bucket_range(start=filters.start, end=filters.end, width=filters.bucket)
    rate = [by_bucket[b]["valid"] / by_bucket[b]["n"] if b in by_bucket else None for b in buckets]
    score = [by_bucket[b]["score"] if b in by_bucket else None for b in buckets]
    return [Series("pass rate", buckets, rate), Series("mean score", buckets, score)]


@dataclass(frozen=True)
class AgentQuality:
    agent: str
    summary: QualitySummary


def quality_by_agent(*, filters: DashboardFilters) -> list[AgentQuality]:
    rows = (
        results_for(filters)
        .order_by()
        .values("agent_name")
        .annotate(
            n=Count("id"), valid=Count("id", filter=Q(is_valid=True)), score=Avg("quality_score")
        )
        .order_by("agent_name")
    )
    return [
        AgentQuality(r["agent_name"], QualitySummary(r["n"], r["valid"], r["score"])) for r in rows
    ]


@dataclass(frozen=True)
class FailureBreakdown:
    families: list[tuple[str, int]]
    rules: list[tuple[str, str, int]]  # (check name, family, failures)
    sampled: int

    @property
    def truncated(self) -> bool:
        return self.sampled >= FAILING_SAMPLE


def failure_breakdown(*, filters: DashboardFilters, top: int = 10) -> FailureBreakdown:
    """Which check families and rules fail most, over the latest failing results."""
    failing = results_for(filters).filter(is_valid=False).order_by("-created_at")
    families: Counter[str] = Counter()
    rules: Counter[tuple[str, str]] = Counter()
    sampled = 0
    for checks in failing.values_list("checks", flat=True)[:FAILING_SAMPLE]:
        sampled += 1
        for check in checks or []:
            if not check.get("passed", True):
                families[check.get("family", "?")] += 1
                rules[(check.get("name", "?"), check.get("family", "?"))] += 1
    return FailureBreakdown(
        families=families.most_common(),
        rules=[(name, family, n) for (name, family), n in rules.most_common(top)],
        sampled=sampled,
    )


def failing_results(*, filters: DashboardFilters, limit: int = 10) -> list[ValidationResult]:
    """The latest failing calls, with their call loaded for the link and the model."""
    failing = results_for(filters).filter(is_valid=False).select_related("call")
    return list(failing.order_by("-created_at")[:limit])
