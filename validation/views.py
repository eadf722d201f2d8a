"""The quality page: validation outcomes over time, by agent and by check family."""

from __future__ import annotations

from typing import Any

from dashkit import figures
from dashkit.filters import DashboardFilters
from dashkit.rendering import Section, dashboard_page
from dashkit.window_counts import window_call_count
from validation import feedback_selectors, quality
from validation.check_stats import check_breakdown, quality_by_policy


def _summary(filters: DashboardFilters) -> dict[str, Any]:
    return {
        "summary": quality.quality_summary(
            start=filters.start, end=filters.end, agent=filters.agent
        )
    }


def _trend(filters: DashboardFilters) -> dict[str, Any]:
    series = quality.quality_series(filters=filters)
    has_data = any(v is not None for s in series for v in s.y)
    chart = figures.lines(series, y_title="0–1", y_format=".2f") if has_data else None
    return {"trend_chart": chart}


def _agents(filters: DashboardFilters) -> dict[str, Any]:
    return {"by_agent": quality.quality_by_agent(filters=filters)}


def _failures(filters: DashboardFilters) -> dict[str, Any]:
    breakdown = quality.failure_breakdown(filters=filters)
    chart = None
    if breakdown.families:
        chart = figures.horizontal_bars(
            labels=[f for f, _ in breakdown.families],
            values=[n for _, n in breakdown.families],
            x_title="failed checks",
            whole_numbers=True,
        )
    return {"breakdown": breakdown, "families_chart": chart}


def _checks(filters: DashboardFilters) -> dict[str, Any]:
    window = {"start": filters.start, "end": filters.end, "agent": filters.agent}
    return {"checks": check_breakdown(**window), "policies": quality_by_policy(**window)}


def _failing(filters: DashboardFilters) -> dict[str, Any]:
    return {"failing": quality.failing_results(filters=filters)}


def _feedback(filters: DashboardFilters) -> dict[str, Any]:
    window = {"start": filters.start, "end": filters.end, "agent": filters.agent}
    summary = feedback_selectors.feedback_summary(**window)
    calls = (window_call_count(filters) or 0) if summary.count else 0
    return {
        "feedback": summary,
        "feedback_rate_pct": summary.calls_scored / calls * 100 if calls else None,
        "feedback_groups": feedback_selectors.feedback_by_agent_model(**window),
        "negative_feedback": feedback_selectors.negative_feedback(**window),
    }


QUALITY_SECTIONS = {
    "quality-summary": Section(
        "validation/partials/quality-summary.html", _summary, cache_long_windows=True
    ),
    "quality-trend": Section(
        "validation/partials/quality-trend.html", _trend, cache_long_windows=True
    ),
    "quality-agents": Section(
        "validation/partials/quality-agents.html", _agents, cache_long_windows=True
    ),
    "quality-failures": Section(
        "validation/partials/quality-failures.html", _failures, cache_long_windows=True
    ),
    "quality-checks": Section(
        "validation/partials/quality-checks.html", _checks, cache_long_windows=True
    ),
    "quality-failing": Section("validation/partials/quality-failing.html", _failing),
    "quality-feedback": Section("validation/partials/quality-feedback.html", _feedback),
}


quality_page = dashboard_page("validation/quality.html", sections=QUALITY_SECTIONS)
