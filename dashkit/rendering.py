"""One way to render a dashboard page, its body and each of its live sections.

A page is a list of sections; each section is one HTMX target with its own
partial template and its own context builder. A polled card asks only for its
own section, so a refresh runs only that section's queries; a filter change
asks for the whole body; a normal request gets the full page. The HTMX target
(the element id htmx sends as ``HX-Target``) picks which, so each URL stays the
shareable page URL and every partial is reachable with its filters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_htmx.middleware import HtmxDetails

from dashkit.filters import (
    GROUPS,
    RANGE_LABELS,
    STATUSES,
    VALIDATION_OUTCOMES,
    DashboardFilters,
    filters_parse,
)

# Filters -> {"agent": [...], "model": [...], "provider": [...]} for the dropdowns.
DimensionSource = Callable[..., dict[str, list[str]]]


class _Dimensions:
    """Where the filter bar's choices come from: the app owning the rollups
    registers its reader (CostsConfig.ready); the kit imports no app."""

    source: DimensionSource | None = None


def dimension_source_register(source: DimensionSource) -> None:
    _Dimensions.source = source


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


# Windows of a day or more are drawn in hour or day buckets from thousands of
# rollup rows (an hour x agent x model x provider each). Their figures cannot
# visibly change within a minute, and the rollups themselves lag the log by
# the job's 30 s interval, so a section's context is cached this long and a
# polled 30-day card costs one cache read instead of decoding every histogram.
LONG_WINDOW = timedelta(hours=24)
SECTION_CACHE_SECONDS = 60


@dataclass(frozen=True)
class Section:
    template: str
    build: Callable[[DashboardFilters], dict[str, Any]]
    # Only sections that read rollups or results aggregated over the window:
    # never the request explorer, whose rows must be current.
    cache_long_windows: bool = False


def section_context(name: str, section: Section, filters: DashboardFilters) -> dict[str, Any]:
    """The section's context, from the cache for long windows (see LONG_WINDOW)."""
    if not section.cache_long_windows or filters.end - filters.start < LONG_WINDOW:
        return section.build(filters)
    # The query string names the window (preset or custom start/end) and dimensions.
    digest = hashlib.sha256(filters.querystring().encode()).hexdigest()[:32]
    key = f"dash:section:{name}:{digest}"
    context = cache.get(key)
    if context is None:
        context = section.build(filters)
        cache.set(key, context, SECTION_CACHE_SECONDS)
    return context


def htmx_target(request: HtmxHttpRequest) -> str | None:
    """The section asked for, or None (history restores always get the full page)."""
    if not request.htmx or request.htmx.history_restore_request:
        return None
    return request.htmx.target


def dashboard_render(
    request: HtmxHttpRequest,
    *,
    page: str,
    body: str,
    sections: Mapping[str, Section],
    context: dict[str, Any] | None = None,
) -> HttpResponse:
    filters = filters_parse(request.GET)
    base = {"filters": filters, "live_url": f"{request.path}?{filters.querystring()}"}
    base.update(context or {})
    target = htmx_target(request)
    if target in sections:
        section = sections[target]
        return render(
            request, section.template, {**base, **section_context(target, section, filters)}
        )
    for name, section in sections.items():
        base.update(section_context(name, section, filters))
    if request.htmx and not request.htmx.history_restore_request:
        # The body target, or an htmx request naming no known section.
        return render(request, body, base)
    return render(request, page, {**base, **filter_bar_context(filters)})


def dashboard_page(
    page: str, *, sections: Mapping[str, Section]
) -> Callable[[HtmxHttpRequest], HttpResponse]:
    """A view that renders ``page`` (``<app>/<name>.html``), its body
    (``<app>/partials/<name>-body.html``) or one of ``sections``: the whole of
    a dashboard page that has no logic of its own."""
    body = _partial(page, "body")

    def view(request: HtmxHttpRequest) -> HttpResponse:
        return dashboard_render(request, page=page, body=body, sections=sections)

    return view


def _partial(page: str, target: str) -> str:
    """``<app>/<name>.html`` -> ``<app>/partials/<name>-<target>.html``."""
    app, _, name = page.removesuffix(".html").rpartition("/")
    return f"{app}/partials/{name}-{target}.html"


def paged_dashboard_page(
    page: str,
    *,
    param: str,
    results: Callable[[DashboardFilters, str], dict[str, Any]],
    sections: Mapping[str, Section] | None = None,
    cache_first_page: bool = False,
) -> Callable[[HtmxHttpRequest], HttpResponse]:
    """``dashboard_page`` for a list: its ``<name>-results`` section shows one
    page, picked by the query parameter ``param`` (a keyset cursor, a page
    number), which the filters do not carry. ``cache_first_page`` caches the
    first page over long windows like a chart (the cache key has no ``param``)."""
    body = _partial(page, "body")
    target = _partial(page, "results").rpartition("/")[2].removesuffix(".html")

    def view(request: HtmxHttpRequest) -> HttpResponse:
        value = request.GET.get(param, "")
        paged = Section(
            _partial(page, "results"),
            lambda filters: results(filters, value),
            cache_long_windows=cache_first_page and not value,
        )
        return dashboard_render(
            request, page=page, body=body, sections={**(sections or {}), target: paged}
        )

    return view


def filter_bar_context(filters: DashboardFilters) -> dict[str, Any]:
    """Choices for the filter bar; only full pages draw it."""
    return {
        "range_choices": list(RANGE_LABELS.items()),
        "group_choices": GROUPS,
        "status_choices": STATUSES,
        "validation_choices": VALIDATION_OUTCOMES,
        "choices": _Dimensions.source(filters=filters) if _Dimensions.source else {},
    }
