"""Reads of validation results for the overview and the quality page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.db.models import Avg, Count, Q


@dataclass(frozen=True)
class QualitySummary:
    validated: int
    valid: int
    mean_score: float | None

    @property
    def pass_rate_pct(self) -> float | None:
        return self.valid / self.validated * 100 if self.validated else None


def _results_model():
    try:
        return apps.get_model("validation", "ValidationResult")
    except LookupError:  # the validation app has no results model yet
        return None


def quality_summary(*, start: datetime, end: datetime) -> QualitySummary:
    model = _results_model()
    if model is None:
        return QualitySummary(validated=0, valid=0, mean_score=None)
    agg = model.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        n=Count("id"), valid=Count("id", filter=Q(is_valid=True)), score=Avg("quality_score")
    )
    return QualitySummary(validated=agg["n"], valid=agg["valid"], mean_score=agg["score"])
