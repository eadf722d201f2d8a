"""The sessions pages: conversations and agent runs, and one session's steps."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render

from dashkit.filters import DashboardFilters
from dashkit.rendering import HtmxHttpRequest, Section, dashboard_render
from llm_gateway.session_selectors import SESSION_ORDERS, session_detail, session_list


def _results(filters: DashboardFilters, *, after: str) -> dict[str, Any]:
    return {"page": session_list(filters=filters, after=after), "orders": SESSION_ORDERS}


def sessions_list(request: HtmxHttpRequest) -> HttpResponse:
    """Sessions of the window from their summaries, a keyset page at a time."""
    after = request.GET.get("after", "")
    results = Section(
        "llm_gateway/partials/sessions-results.html", lambda f: _results(f, after=after)
    )
    return dashboard_render(
        request,
        page="llm_gateway/sessions.html",
        body="llm_gateway/partials/sessions-body.html",
        sections={"sessions-results": results},
        context={"after": after},
    )


def session_view(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    detail = session_detail(session_id=session_id)
    if detail is None:
        raise Http404("No such session")
    return render(request, "llm_gateway/session_detail.html", {"detail": detail})
