"""Performance page, request explorer and request detail: parse, call selectors, render."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render

from costs.usage import window_totals
from dashkit import figures
from dashkit.filters import DashboardFilters, filters_parse
from dashkit.formatting import error_label
from dashkit.rendering import HtmxHttpRequest, Section, dashboard_page, dashboard_render
from dashkit.streaming import streamed_download
from llm_gateway import call_export, call_order, selectors

OUTCOME_COLORS = {"succeeded": figures.PALETTE[0], "failed": figures.PALETTE[3]}


def _summary(filters: DashboardFilters) -> dict[str, Any]:
    return {"totals": window_totals(filters=filters)}


def _latency(filters: DashboardFilters) -> dict[str, Any]:
    series = selectors.percentile_series(filters=filters, field="latency_hist")
    has_data = any(v is not None for s in series for v in s.y)
    return {"latency_chart": figures.lines(series, y_title="ms") if has_data else None}


def _ttft(filters: DashboardFilters) -> dict[str, Any]:
    series = selectors.percentile_series(filters=filters, field="ttft_hist")
    has_data = any(v is not None for s in series for v in s.y)
    return {"ttft_chart": figures.lines(series, y_title="ms") if has_data else None}


def _throughput(filters: DashboardFilters) -> dict[str, Any]:
    series = selectors.throughput_series(filters=filters)
    has_data = any(v for s in series for v in s.y)
    return {
        "throughput_chart": figures.stacked_bars(series, y_title="calls", colors=OUTCOME_COLORS)
        if has_data
        else None,
        "bucket_label": filters.bucket_label,
    }


def _errors(filters: DashboardFilters) -> dict[str, Any]:
    by_type = selectors.errors_by_type(filters=filters)
    refusals = selectors.refusal_counts(by_type=by_type)
    chart = (
        figures.horizontal_bars(
            labels=[error_label(t) for t, _ in by_type],
            values=[n for _, n in by_type],
            x_title="failed calls",
            whole_numbers=True,
        )
        if by_type
        else None
    )
    return {
        "errors_chart": chart,
        "providers": selectors.provider_stats(filters=filters),
        "refusals": refusals,
    }


def _health(filters: DashboardFilters) -> dict[str, Any]:
    return {"health": selectors.provider_health()}


PERFORMANCE_SECTIONS = {
    "perf-summary": Section(
        "llm_gateway/partials/perf-summary.html", _summary, cache_long_windows=True
    ),
    "perf-latency": Section(
        "llm_gateway/partials/perf-latency.html", _latency, cache_long_windows=True
    ),
    "perf-ttft": Section("llm_gateway/partials/perf-ttft.html", _ttft, cache_long_windows=True),
    "perf-throughput": Section(
        "llm_gateway/partials/perf-throughput.html", _throughput, cache_long_windows=True
    ),
    "perf-errors": Section(
        "llm_gateway/partials/perf-errors.html", _errors, cache_long_windows=True
    ),
    "perf-health": Section("llm_gateway/partials/perf-health.html", _health),
}


performance = dashboard_page("llm_gateway/performance.html", sections=PERFORMANCE_SECTIONS)


def _results(filters: DashboardFilters, *, after: str) -> dict[str, Any]:
    total, capped = selectors.call_count(filters=filters) or (None, False)
    return {
        "page": selectors.call_page(filters=filters, after=after),
        "total": total,
        "total_capped": capped,
        "orders": call_order.ORDERS,
    }


def requests_list(request: HtmxHttpRequest) -> HttpResponse:
    """The call log, filtered and searched, a keyset page at a time."""
    after = request.GET.get("after", "")
    sections = {
        "requests-results": Section(
            "llm_gateway/partials/requests-results.html", lambda f: _results(f, after=after)
        )
    }
    return dashboard_render(
        request,
        page="llm_gateway/requests.html",
        body="llm_gateway/partials/requests-body.html",
        sections=sections,
        context={"after": after},
    )


EXPORTS = {
    "csv": (call_export.csv_chunks, "text/csv; charset=utf-8"),
    "jsonl": (call_export.jsonl_chunks, "application/x-ndjson"),
}


def requests_export(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    """Every call the explorer's filters match, in its order, streamed (staff
    only, like every page: infra_dashboard.middleware)."""
    if fmt not in EXPORTS:
        raise Http404("No such export format")
    chunks, content_type = EXPORTS[fmt]
    filters = filters_parse(request.GET)
    name = f"llm-calls-{filters.start:%Y%m%dT%H%M}-{filters.end:%Y%m%dT%H%M}.{fmt}"
    return streamed_download(
        request, chunks(filters=filters), content_type=content_type, filename=name
    )


def request_detail(request: HtmxHttpRequest, call_id: uuid.UUID) -> HttpResponse:
    detail = selectors.call_detail(call_id=call_id)
    if detail is None:
        raise Http404("No such call")
    return render(request, "llm_gateway/request_detail.html", {"detail": detail})
