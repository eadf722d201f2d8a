"""Costs page, budgets page and the streamed exports of the current costs view."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from infra_dashboard import budget_status, figures, selectors
from infra_dashboard.filters import DashboardFilters, filters_parse
from infra_dashboard.rendering import HtmxHttpRequest, Section, dashboard_render


def _summary(filters: DashboardFilters) -> dict[str, Any]:
    now = timezone.now()
    month = selectors.period_totals(start=selectors.month_start(now), end=now)
    return {
        "totals": selectors.usage_totals(filters=filters),
        "month": month,
        "month_forecast": selectors.month_forecast(spent=month.cost, now=now),
    }


def _spend(filters: DashboardFilters) -> dict[str, Any]:
    series = selectors.spend_series(filters=filters, group_by=filters.group)
    has_data = any(v for s in series for v in s.y)
    chart = figures.stacked_bars(series, y_title="USD", money=True) if has_data else None
    return {"spend_chart": chart}


def _cumulative(filters: DashboardFilters) -> dict[str, Any]:
    x, spend = selectors.cumulative_spend(filters=filters)
    budgets = budget_status.overview_budgets(now=filters.end)
    has_data = bool(spend) and spend[-1] > 0
    chart = None
    if has_data:
        chart = figures.cumulative_against_budgets(
            x=x,
            spend=spend,
            budgets=[(f"{b.name} ({b.period})", b.amount) for b in budgets],
            # A forecast from less than a week of pace would mostly draw noise.
            forecast=budget_status.forecast_line(x=x, spend=spend, until=filters.end)
            if filters.end - filters.start >= timedelta(days=7)
            else None,
        )
    return {"cumulative_chart": chart, "budget_lines": budgets}


def _per_1k(filters: DashboardFilters) -> dict[str, Any]:
    series = selectors.cost_per_1k_series(filters=filters)
    has_data = any(v is not None for v in series.y)
    chart = figures.lines([series], y_title="USD", y_format="$,.3f") if has_data else None
    return {"per_1k_chart": chart}


def _recommendations(filters: DashboardFilters) -> dict[str, Any]:
    return {"recommendations": budget_status.recommendations()}


COSTS_SECTIONS = {
    "costs-summary": Section("costs/partials/costs-summary.html", _summary),
    "costs-spend": Section("costs/partials/costs-spend.html", _spend),
    "costs-cumulative": Section("costs/partials/costs-cumulative.html", _cumulative),
    "costs-per-1k": Section("costs/partials/costs-per-1k.html", _per_1k),
    "costs-recommendations": Section("costs/partials/costs-recommendations.html", _recommendations),
}


def costs_page(request: HtmxHttpRequest) -> HttpResponse:
    return dashboard_render(
        request,
        page="costs/costs.html",
        body="costs/partials/costs-body.html",
        sections=COSTS_SECTIONS,
    )


def budgets_page(request: HtmxHttpRequest) -> HttpResponse:
    return dashboard_render(
        request,
        page="costs/budgets.html",
        body="costs/partials/budgets-body.html",
        sections={
            "budgets-list": Section(
                "costs/partials/budgets-list.html",
                lambda f: {"budgets": budget_status.overview_budgets(now=timezone.now())},
            )
        },
    )


# --- exports --------------------------------------------------------------------


class _Echo:
    """csv.writer wants a file; this hands each formatted line straight back."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterable[dict[str, object]], header: list[str]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([row[name] for name in header])


def _json_chunks(rows: Iterable[dict[str, object]], filters: DashboardFilters) -> Iterator[str]:
    yield '{"filters": ' + json.dumps(filters.params()) + ', "rows": ['
    for i, row in enumerate(rows):
        yield ("," if i else "") + json.dumps(row)
    yield "]}"


def _filename(filters: DashboardFilters, ext: str) -> str:
    return f"llm-spend-{filters.start:%Y%m%dT%H%M}-{filters.end:%Y%m%dT%H%M}.{ext}"


def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    filters = filters_parse(request.GET)
    header = ["bucket_start", filters.group, "calls", "errors"]
    header += ["prompt_tokens", "completion_tokens", "cost_usd"]
    response = StreamingHttpResponse(
        _csv_lines(selectors.spend_rows(filters=filters), header), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(filters, "csv")}"'
    return response


def export_json(request: HttpRequest) -> StreamingHttpResponse:
    filters = filters_parse(request.GET)
    response = StreamingHttpResponse(
        _json_chunks(selectors.spend_rows(filters=filters), filters),
        content_type="application/json",
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(filters, "json")}"'
    return response
