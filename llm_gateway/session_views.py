"""The sessions pages: conversations and agent runs, and one session's steps."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render

from dashkit.filters import DashboardFilters
from dashkit.rendering import HtmxHttpRequest, paged_dashboard_page
from llm_gateway.session_selectors import SESSION_ORDERS, session_detail, session_list
from llm_gateway.session_timeline import WATERFALL_ROWS, session_conversation, session_waterfall


def _results(filters: DashboardFilters, after: str) -> dict[str, Any]:
    return {"page": session_list(filters=filters, after=after), "orders": SESSION_ORDERS}


# Sessions of the window from their summaries, a keyset page at a time.
sessions_list = paged_dashboard_page("llm_gateway/sessions.html", param="after", results=_results)


def session_view(request: HtmxHttpRequest, session_id: str) -> HttpResponse:
    detail = session_detail(session_id=session_id)
    if detail is None:
        raise Http404("No such session")
    context = {
        "detail": detail,
        "timeline": session_waterfall(detail.steps),
        "conversation": session_conversation(detail.steps),
        "timeline_rows": WATERFALL_ROWS,
    }
    return render(request, "llm_gateway/session_detail.html", context)
