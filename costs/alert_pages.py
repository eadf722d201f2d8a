"""The alerts page: every in-app alert and every budget alert's delivery, with
acknowledge and resolve for staff.

Both lists are read newest first a page at a time by id (keyset: the alert
table only grows, and page 50 costs what page 1 does), filtered by budget,
level and state from the query string so a filtered view can be shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from costs.alerts import in_app_alert_acknowledge, in_app_alert_resolve
from costs.models import AlertLevel, Budget, BudgetAlertEvent, InAppAlert

PAGE_SIZE = 50
STATES = {
    "open": Q(resolved_at=None),  # acknowledged ones are still open
    "unacknowledged": Q(resolved_at=None, acknowledged_at=None),
    "resolved": Q(resolved_at__isnull=False),
    "all": Q(),
}


@dataclass(frozen=True)
class AlertFilters:
    state: str = "open"
    level: str = ""
    budget: int | None = None
    before: int | None = None

    @classmethod
    def parse(cls, query: QueryDict) -> AlertFilters:
        """Bad values fall back to defaults: a hand-edited link still opens."""
        state = query.get("state", "open")
        level = query.get("level", "")
        return cls(
            state=state if state in STATES else "open",
            level=level if level in AlertLevel.values else "",
            budget=_int(query.get("budget")),
            before=_int(query.get("before")),
        )

    def querystring(self, **overrides: object) -> str:
        values = {"state": self.state, "level": self.level, "budget": self.budget or ""}
        values.update(overrides)
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def _int(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() else None


def alerts_filtered(filters: AlertFilters) -> QuerySet[InAppAlert]:
    rows = InAppAlert.objects.filter(STATES[filters.state])
    if filters.level:
        rows = rows.filter(level=filters.level)
    if filters.budget:
        rows = rows.filter(budget_id=filters.budget)
    return rows


def alert_page(filters: AlertFilters) -> tuple[list[InAppAlert], int | None]:
    """One page of alerts, newest first, and the id the next page starts before."""
    rows = alerts_filtered(filters).select_related("budget").order_by("-id")
    if filters.before:
        rows = rows.filter(id__lt=filters.before)
    page = list(rows[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    return page, (page[-1].id if more else None)


def alert_counts() -> dict[str, int]:
    return InAppAlert.objects.aggregate(
        open=Count("id", filter=Q(resolved_at=None)),
        unacknowledged=Count("id", filter=Q(resolved_at=None, acknowledged_at=None)),
        critical=Count("id", filter=Q(resolved_at=None, level=AlertLevel.CRITICAL)),
    )


def deliveries(filters: AlertFilters, *, limit: int = 30) -> list[BudgetAlertEvent]:
    rows = BudgetAlertEvent.objects.select_related("budget").order_by("-id")
    if filters.budget:
        rows = rows.filter(budget_id=filters.budget)
    return list(rows[:limit])


def alerts_page(request: HttpRequest) -> HttpResponse:
    filters = AlertFilters.parse(request.GET)
    alerts, next_before = alert_page(filters)
    context = {
        "alerts": alerts,
        "next_before": next_before,
        "filters": filters,
        "counts": alert_counts(),
        "deliveries": deliveries(filters),
        "budgets": Budget.objects.order_by("name").values_list("id", "name"),
        "levels": AlertLevel.values,
        "states": list(STATES),
        "back": request.get_full_path(),
    }
    return render(request, "costs/alerts.html", context)


def _back(request: HttpRequest) -> HttpResponse:
    """To the filtered list the action came from (only a path on this site)."""
    back = request.POST.get("back", "")
    return redirect(back if back.startswith(reverse("costs:alerts")) else "costs:alerts")


@require_POST
def alert_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    if not in_app_alert_acknowledge(alert_id=pk, by=request.user.get_username()):
        messages.info(request, "That alert was already acknowledged or resolved.")
    return _back(request)


@require_POST
def alert_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    if not in_app_alert_resolve(alert_id=pk, by=request.user.get_username()):
        messages.info(request, "That alert was already resolved.")
    return _back(request)
