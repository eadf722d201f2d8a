"""Reads for the overview page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Avg, Count, Q, Sum

from llm_gateway.models import CallStatus, LLMCall


@dataclass(frozen=True)
class PeriodTotals:
    calls: int
    errors: int
    cost: Decimal
    tokens: int
    mean_latency_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def error_pct(self) -> float:
        return self.error_rate * 100


def period_totals(*, start: datetime, end: datetime) -> PeriodTotals:
    row = LLMCall.objects.filter(created_at__gte=start, created_at__lt=end).aggregate(
        calls=Count("id"),
        errors=Count("id", filter=~Q(status=CallStatus.SUCCESS)),
        cost=Sum("cost"),
        tokens=Sum("total_tokens"),
        latency=Avg("latency_ms"),
    )
    return PeriodTotals(
        calls=row["calls"],
        errors=row["errors"],
        cost=row["cost"] or Decimal("0"),
        tokens=row["tokens"] or 0,
        mean_latency_ms=row["latency"],
    )


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)
