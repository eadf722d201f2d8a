"""The end users page: who spends, from the per-user day rollups."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from costs.attribution_reads import USER_ORDERS, users_page, users_spend_series
from dashkit import figures
from dashkit.filters import DashboardFilters
from dashkit.rendering import Section, paged_dashboard_page

TREND_USERS = 8


def _results(filters: DashboardFilters, page: str) -> dict[str, Any]:
    number = int(page) if page.isdigit() else 1
    return {"page": users_page(filters=filters, page=number), "orders": USER_ORDERS}


def _trend(filters: DashboardFilters) -> dict[str, Any]:
    # The chart follows the biggest spenders, whatever order the table is in.
    top = users_page(filters=replace(filters, order="cost"))
    users = [row.end_user for row in top.rows[:TREND_USERS]]
    series = users_spend_series(filters=filters, users=users) if users else []
    has_data = any(v for s in series for v in s.y)
    chart = figures.stacked_bars(series, y_title="USD", money=True) if has_data else None
    return {"trend_chart": chart, "trend_users": len(users)}


USERS_SECTIONS = {
    "users-trend": Section("costs/partials/users-trend.html", _trend, cache_long_windows=True),
}
# End users of the window: spend, calls, errors, last seen, and the top spenders' trend.
# Ranking users sums every user-day row of the window (tens of thousands over
# 30 days), so over long windows the first page is cached like the charts.
users_list = paged_dashboard_page(
    "costs/users.html",
    param="page",
    results=_results,
    sections=USERS_SECTIONS,
    cache_first_page=True,
)
