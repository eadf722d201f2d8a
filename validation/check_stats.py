"""Reads for the quality page: failed checks by check and severity, and results by policy.

Results have no rollup, so the per-check breakdown, which has to open each result's checks
JSON, looks at the latest ``SAMPLE`` results that failed any check (warnings included:
they are what a policy lowered, and what an operator tunes). The per-policy counts are
one aggregate in the database over the indexed ``created_at`` range.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Avg, Count, Q, QuerySet

from validation.models import ValidationResult
from validation.severity import DEFAULT_POLICY_NAME
from validation.validators.base import SEVERITIES

SAMPLE = 5000


def _results(*, start: datetime, end: datetime, agent: str) -> QuerySet[ValidationResult]:
    results = ValidationResult.objects.filter(created_at__gte=start, created_at__lt=end)
    return results.filter(agent_name=agent) if agent else results


@dataclass(frozen=True)
class CheckFailures:
    check: str
    family: str
    severity: str
    failures: int


@dataclass(frozen=True)
class CheckBreakdown:
    rows: list[CheckFailures]  # most failures first
    by_severity: dict[str, int]  # severity -> failed checks, most severe first
    sampled: int

    @property
    def truncated(self) -> bool:
        return self.sampled >= SAMPLE


def check_breakdown(
    *, start: datetime, end: datetime, agent: str = "", top: int = 15
) -> CheckBreakdown:
    """Failed checks of the latest results with any failure, by (check, family, severity)."""
    with_failures = _results(start=start, end=end, agent=agent).exclude(failed_families=[])
    latest = with_failures.order_by("-created_at").values_list("checks", flat=True)[:SAMPLE]
    counts: Counter[tuple[str, str, str]] = Counter()
    sampled = 0
    for checks in latest:
        sampled += 1
        for check in checks or []:
            if not check.get("passed", True):
                key = (check.get("name", "?"), check.get("family", "?"), check.get("severity", "?"))
                counts[key] += 1
    severities: Counter[str] = Counter()
    for (_, _, severity), n in counts.items():
        severities[severity] += n
    order = [s for s in reversed(SEVERITIES) if s in severities] + sorted(
        set(severities) - set(SEVERITIES)
    )
    rows = [CheckFailures(*key, n) for key, n in counts.most_common(top)]
    return CheckBreakdown(rows, {s: severities[s] for s in order}, sampled)


@dataclass(frozen=True)
class PolicyQuality:
    policy: str
    validated: int
    valid: int
    mean_score: float | None

    @property
    def pass_rate_pct(self) -> float | None:
        return self.valid / self.validated * 100 if self.validated else None


def quality_by_policy(*, start: datetime, end: datetime, agent: str = "") -> list[PolicyQuality]:
    """Validated calls per policy they were judged under (results from before policies were
    recorded count as the built-in defaults, which is what judged them)."""
    rows = (
        _results(start=start, end=end, agent=agent)
        .order_by()
        .values("policy")
        .annotate(
            n=Count("id"), valid=Count("id", filter=Q(is_valid=True)), score=Avg("quality_score")
        )
    )
    merged: dict[str, list[float]] = {}
    for row in rows:
        name = row["policy"] or DEFAULT_POLICY_NAME
        n, valid, score = merged.get(name, [0, 0, 0.0])
        merged[name] = [n + row["n"], valid + row["valid"], score + (row["score"] or 0) * row["n"]]
    return [
        PolicyQuality(name, int(n), int(valid), score / n if n else None)
        for name, (n, valid, score) in sorted(merged.items())
    ]
