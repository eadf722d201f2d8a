"""The end users page: who spends, from the per-user day rollups."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.http import HttpResponse

from costs.attribution_reads import USER_ORDERS, users_page, users_spend_series
from dashkit import figures
from dashkit.filters import DashboardFilters
from dashkit.rendering import HtmxHttpRequest, Section, dashboard_render

TREND_USERS = 8


def _results(filters: DashboardFilters, *, page: int) -> dict[str, Any]:
    found = users_page(filters=filters, page=page)
    return {"page": found, "orders": USER_ORDERS}


def _trend(filters: DashboardFilters) -> dict[str, Any]:
    # The chart follows the biggest spenders, whatever order the table is in.
    top = users_page(filters=replace(filters, order="cost"))
    users = [row.end_user for row in top.rows[:TREND_USERS]]
    series = users_spend_series(filters=filters, users=users) if users else []
    has_data = any(v for s in series for v in s.y)
    chart = figures.stacked_bars(series, y_title="USD", money=True) if has_data else None
    return {"trend_chart": chart, "trend_users": len(users)}


def users_list(request: HtmxHttpRequest) -> HttpResponse:
    """End users of the window: spend, calls, errors, last seen, and a trend."""
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    sections = {
        "users-trend": Section("costs/partials/users-trend.html", _trend, cache_long_windows=True),
        "users-results": Section(
            "costs/partials/users-results.html", lambda f: _results(f, page=page)
        ),
    }
    return dashboard_render(
        request,
        page="costs/users.html",
        body="costs/partials/users-body.html",
        sections=sections,
    )
