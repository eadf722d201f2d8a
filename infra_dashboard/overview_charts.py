"""Today's charts on the overview: spend and calls per hour, and what failed.

They read hour rollups of the current UTC day only (at most 24 buckets per
agent, model and provider), never the call log. The day's whole axis is drawn
from midnight to midnight so the empty hours ahead read as "not yet", and
the figures are cached as long as the card's poll interval: the rollups
themselves move only when the rollup job runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from common.buckets import day_start
from costs.usage_series import spend_series
from dashkit import figures
from dashkit.filters import DashboardFilters
from dashkit.formatting import error_label
from llm_gateway import selectors as gateway_selectors

TODAY_CACHE_SECONDS = 30
OUTCOME_COLORS = {"succeeded": figures.PALETTE[0], "failed": figures.PALETTE[3]}


def today_filters(now: datetime) -> DashboardFilters:
    start = day_start(now)
    return DashboardFilters(range="custom", start=start, end=start + timedelta(days=1))


def _charts(now: datetime) -> dict[str, Any]:
    filters = today_filters(now)
    spend = spend_series(filters=filters, group_by="model", top=5)
    calls = gateway_selectors.throughput_series(filters=filters)
    errors = gateway_selectors.errors_by_type(filters=filters)
    has_spend = any(v for s in spend for v in s.y)
    has_calls = any(v for s in calls for v in s.y)
    return {
        "spend_today_chart": figures.stacked_bars(spend, y_title="USD", money=True)
        if has_spend
        else None,
        "calls_today_chart": figures.stacked_bars(calls, y_title="calls", colors=OUTCOME_COLORS)
        if has_calls
        else None,
        "errors_today_chart": figures.horizontal_bars(
            labels=[error_label(t) for t, _ in errors],
            values=[n for _, n in errors],
            x_title="failed calls",
            whole_numbers=True,
        )
        if errors
        else None,
        "errors_today": sum(n for _, n in errors),
    }


def today_charts_section(filters: DashboardFilters) -> dict[str, Any]:
    """The overview's chart cards (the page's own filters do not apply: it is "today")."""
    now = timezone.now()
    key = f"dash:overview-today:{day_start(now).isoformat()}"
    return cache.get_or_set(key, lambda: _charts(now), TODAY_CACHE_SECONDS)
