"""Costs page, budgets page and the streamed exports of the current costs view."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from common.buckets import month_start
from costs import budget_status, selectors, usage, usage_series
from costs.attribution_reads import SpendSource, spend_source
from costs.budgets import budget_create
from costs.exports import flat_csv_rows, usage_csv_rows
from costs.forms import BudgetEditForm, BudgetForm
from costs.models import Budget
from costs.recommendations import (
    Recommendation,
    recommendations_for,
    recommendations_worth_showing,
)
from dashkit import figures
from dashkit.filters import DashboardFilters, filters_parse
from dashkit.rendering import HtmxHttpRequest, Section, dashboard_page, dashboard_render
from dashkit.streaming import streamed_download


def _summary(filters: DashboardFilters) -> dict[str, Any]:
    source = spend_source(filters)
    if source.attributed:
        return _attributed_summary(filters, source)
    now = timezone.now()
    month = usage.period_totals(
        start=month_start(now),
        end=now,
        agent=filters.agent,
        model=filters.model,
        provider=filters.provider,
        operation=filters.operation,
        latency=False,
    )
    return {
        "totals": usage.window_totals(filters=filters),
        "month": month,
        "month_forecast": selectors.month_forecast(spend=month.cost, now=now),
    }


def _attributed_summary(filters: DashboardFilters, source: SpendSource) -> dict[str, Any]:
    """A user's or a tag's spend: whole UTC days from their rollups (no live tail)."""
    now = timezone.now()
    month = spend_source(replace(filters, start=month_start(now), end=now))
    month_cost = usage.totals_of(month.rows, latency=False).cost
    return {
        "totals": usage.totals_of(source.rows, latency=False),
        "month": usage.UsageTotals(cost=month_cost),
        "month_forecast": selectors.month_forecast(spend=month_cost, now=now),
        "source": source.described(),
    }


def _spend(filters: DashboardFilters) -> dict[str, Any]:
    series = usage_series.spend_series(filters=filters, group_by=filters.group)
    has_data = any(v for s in series for v in s.y)
    chart = figures.stacked_bars(series, y_title="USD", money=True) if has_data else None
    return {"spend_chart": chart, "source": spend_source(filters).described()}


def _cache_savings(filters: DashboardFilters) -> dict[str, Any]:
    saved, hit_rate, saved_total = usage_series.cache_savings_series(filters=filters)
    chart = None
    if any(v for v in saved.y) or any(v for v in hit_rate.y):
        chart = figures.bars_with_rate(
            x=saved.x, bars=saved, rate=hit_rate, y_title="USD saved", rate_title="hit rate"
        )
    return {
        "savings_chart": chart,
        "saved_total": saved_total,
        "source": spend_source(filters).described(),
    }


def _cumulative(filters: DashboardFilters) -> dict[str, Any]:
    x, spend = usage_series.cumulative_spend(filters=filters)
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
    series = usage_series.cost_per_1k_series(filters=filters)
    has_data = any(v is not None for v in series.y)
    chart = (
        figures.lines([series], y_title="USD", y_format=figures.money_format(series.y))
        if has_data
        else None
    )
    return {"per_1k_chart": chart}


# Advice describes weeks of traffic and changes slowly, while computing it
# reads every rollup row of the window and hashes up to 200,000 raw request
# bodies for repeated prompts (costs.call_patterns). So the page keeps it for
# a few minutes per window instead of on every poll.
RECOMMENDATIONS_CACHE_SECONDS = 300


def recommendations_cached(*, start: datetime, end: datetime) -> list[Recommendation]:
    """``costs.recommendations.recommendations_for`` for the window, cached per window.

    The end is floored to the cache period so that a preset range (whose end is
    "now") maps to one key, and the advice is computed for exactly that end.
    """
    period = RECOMMENDATIONS_CACHE_SECONDS
    floored = datetime.fromtimestamp(int(end.timestamp()) // period * period, tz=UTC)
    if floored <= start:  # a window shorter than the period: too small to cache
        return recommendations_for(start=start, end=end)
    key = f"dash:recommendations:{start.isoformat()}:{floored.isoformat()}"
    advice = cache.get(key)
    if advice is None:
        advice = recommendations_for(start=start, end=floored)
        cache.set(key, advice, period)
    return advice


def _recommendations(filters: DashboardFilters) -> dict[str, Any]:
    advice = recommendations_cached(start=filters.start, end=filters.end)
    return {"recommendations": recommendations_worth_showing(advice)}


COSTS_SECTIONS = {
    "costs-summary": Section(
        "costs/partials/costs-summary.html", _summary, cache_long_windows=True
    ),
    "costs-spend": Section("costs/partials/costs-spend.html", _spend, cache_long_windows=True),
    "costs-cumulative": Section(
        "costs/partials/costs-cumulative.html", _cumulative, cache_long_windows=True
    ),
    "costs-per-1k": Section("costs/partials/costs-per-1k.html", _per_1k, cache_long_windows=True),
    "costs-cache": Section(
        "costs/partials/costs-cache.html", _cache_savings, cache_long_windows=True
    ),
    "costs-recommendations": Section("costs/partials/costs-recommendations.html", _recommendations),
}


costs_page = dashboard_page("costs/costs.html", sections=COSTS_SECTIONS)


def _budget_statuses(filters: DashboardFilters) -> dict[str, Any]:
    statuses = selectors.budget_statuses()
    return {"statuses": statuses, "burn_figures": budget_status.burn_downs(statuses=statuses)}


def _budget_events(filters: DashboardFilters) -> dict[str, Any]:
    return {"events": selectors.alert_events_recent(limit=20)}


BUDGET_SECTIONS = {
    "budgets-list": Section("costs/partials/budgets-list.html", _budget_statuses),
    "budgets-alerts": Section("costs/partials/budgets-alerts.html", _budget_events),
}


def _budget_from_form(form: BudgetForm) -> Budget:
    data = form.cleaned_data
    return budget_create(
        name=data["name"],
        amount=data["amount"],
        period=data["period"],
        scope=data["scope"],
        scope_value=data["scope_value"],
        gateway_key_id=data["gateway_key"].id if data["gateway_key"] else None,
        thresholds=data["thresholds"],
        action=data["action"],
        downgrade_model=data.get("downgrade_model", ""),
        emails=data.get("emails", ""),
        webhook_url=data.get("webhook_url", ""),
        in_app=data.get("in_app", True),
    )


def budgets_page(request: HtmxHttpRequest) -> HttpResponse:
    """Burn-down per budget, alert history, and the form that creates a budget."""
    form = BudgetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        budget = _budget_from_form(form)
        messages.success(request, f"Budget '{budget.name}' created.")
        return redirect("costs:budgets")
    response = dashboard_render(
        request,
        page="costs/budgets.html",
        body="costs/partials/budgets-body.html",
        sections=BUDGET_SECTIONS,
        context={"form": form},
    )
    if form.errors:
        response.status_code = 400
    return response


def budget_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Edit one budget with the same form (and rules) as creation and the admin."""
    budget = get_object_or_404(Budget, pk=pk)
    form = BudgetEditForm(request.POST or None, instance=budget)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Budget '{budget.name}' saved.")
        return redirect("costs:budgets")
    response = render(request, "costs/budget_edit.html", {"form": form, "budget": budget})
    if form.errors:
        response.status_code = 400
    return response


def budget_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Confirm, then delete a budget with its counters and alert history."""
    budget = get_object_or_404(Budget, pk=pk)
    if request.method == "POST":
        name = budget.name
        budget.delete()
        messages.success(request, f"Budget '{name}' deleted.")
        return redirect("costs:budgets")
    events = budget.alert_events.count()
    return render(request, "costs/budget_delete.html", {"budget": budget, "events": events})


# --- exports --------------------------------------------------------------------


class _Echo:
    """csv.writer wants a file; this hands each formatted line straight back."""

    def write(self, value: str) -> str:
        return value


def _json_chunks(rows: Iterable[dict[str, object]], filters: DashboardFilters) -> Iterator[str]:
    yield '{"filters": ' + json.dumps(filters.params()) + ', "rows": ['
    for i, row in enumerate(rows):
        yield ("," if i else "") + json.dumps(row)
    yield "]}"


def _filename(filters: DashboardFilters, ext: str) -> str:
    return f"llm-spend-{filters.start:%Y%m%dT%H%M}-{filters.end:%Y%m%dT%H%M}.{ext}"


def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered rollups as CSV (costs.exports: exact decimals, formula-safe cells)."""
    filters = filters_parse(request.GET)
    if spend_source(filters).attributed:
        rows = flat_csv_rows(usage_series.spend_rows(filters=filters))
    else:
        dims = usage.UsageFilter.of(filters)
        rows = usage_csv_rows(start=filters.start, end=filters.end, filters=dims)
    writer = csv.writer(_Echo())
    lines = (writer.writerow(r) for r in rows)
    return streamed_download(
        request, lines, content_type="text/csv", filename=_filename(filters, "csv")
    )


def export_json(request: HttpRequest) -> StreamingHttpResponse:
    filters = filters_parse(request.GET)
    chunks = _json_chunks(usage_series.spend_rows(filters=filters), filters)
    return streamed_download(
        request, chunks, content_type="application/json", filename=_filename(filters, "json")
    )
