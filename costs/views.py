"""Cost dashboard, budgets page and CSV export: parse, call selectors, render."""

from __future__ import annotations

import csv
from datetime import datetime

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from costs import selectors
from costs.budgets import budget_create
from costs.exports import usage_csv_rows
from costs.figures import breakdown_figure, cost_over_time_figure
from costs.forms import RANGES, BudgetForm, CostFilterForm
from costs.recommendations import recommendations_for


def _window(filters: dict[str, str]) -> tuple[datetime, datetime]:
    end = timezone.now()
    return end - RANGES[filters["range"]], end


def _usage_filter(filters: dict[str, str]) -> selectors.UsageFilter:
    return selectors.UsageFilter(
        agent=filters["agent"], model=filters["model"], provider=filters["provider"]
    )


def cost_dashboard(request: HttpRequest) -> HttpResponse:
    filters = CostFilterForm(request.GET).cleaned()
    start, end = _window(filters)
    usage = _usage_filter(filters)
    buckets, series = selectors.cost_series(start=start, end=end, by=filters["by"], filters=usage)
    breakdown = selectors.usage_breakdown(start=start, end=end, by=filters["by"], filters=usage)
    context = {
        "filters": filters,
        "ranges": list(RANGES),
        "totals": selectors.usage_totals(start=start, end=end, filters=usage),
        "breakdown": breakdown,
        "by_agent": selectors.usage_breakdown(start=start, end=end, by="agent", filters=usage),
        "cost_figure": cost_over_time_figure(buckets, series),
        "breakdown_figure": breakdown_figure([(n, t.cost) for n, t in breakdown[:10]]),
        "recommendations": recommendations_for(start=start, end=end)[:6],
        "choices": selectors.usage_dimension_values(start=start, end=end),
        "query": request.GET.urlencode(),
        "now": end,
    }
    template = "costs/partials/cost_panels.html" if request.htmx else "costs/dashboard.html"
    return render(request, template, context)


def cost_export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered rollups as CSV, streamed: a 90-day hourly export is large."""
    filters = CostFilterForm(request.GET).cleaned()
    start, end = _window(filters)
    writer = csv.writer(_Echo())
    rows = usage_csv_rows(start=start, end=end, filters=_usage_filter(filters))
    response = StreamingHttpResponse((writer.writerow(r) for r in rows), content_type="text/csv")
    name = f"llm-costs-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class _Echo:
    def write(self, value: str) -> str:
        return value


def budgets_page(request: HttpRequest) -> HttpResponse:
    form = BudgetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        budget = budget_create(
            name=data["name"],
            amount=data["amount"],
            period=data["period"],
            scope=data["scope"],
            scope_value=data["scope_value"],
            gateway_key_id=data["gateway_key"].id if data["gateway_key"] else None,
            thresholds=data["thresholds"],
            action=data["action"],
            channels=form.instance.channels,
        )
        messages.success(request, f"Budget '{budget.name}' created.")
        return redirect("costs:budgets")
    context = {
        "statuses": selectors.budget_statuses(),
        "events": selectors.alert_events_recent(limit=20),
        "form": form,
        "now": timezone.now(),
    }
    template = "costs/partials/budget_table.html" if request.htmx else "costs/budgets.html"
    return render(request, template, context, status=400 if form.errors else 200)
