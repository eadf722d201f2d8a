"""The overview page and the process/readiness probes."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

from calls.metrics import metrics_exposition
from common.buckets import day_start, month_start
from costs import selectors, usage, usage_series
from costs.budget_status import overview_alerts, overview_budgets
from dashkit.filters import DashboardFilters
from dashkit.rendering import SECTION_CACHE_SECONDS, Section, dashboard_page
from infra_dashboard.celery import app
from infra_dashboard.overview_charts import today_charts_section
from validation import quality

logger = logging.getLogger(__name__)


def _spend_section(filters: DashboardFilters) -> dict[str, Any]:
    now = timezone.now()
    month = usage.period_totals(start=month_start(now), end=now, latency=False)
    return {
        "today": usage.period_totals(start=day_start(now), end=now, latency=False),
        "month": month,
        "month_forecast": selectors.month_forecast(spend=month.cost, now=now),
        "budgets": overview_budgets(now=now),
        "now": now,
    }


# Today's quality reads every validation result since midnight, so its cost grows
# with the day's traffic (2.2x from 100 k to 1 M calls in bench/dashboard.py);
# on a card polled every few seconds a figure up to this old is fine.
QUALITY_TODAY_CACHE_SECONDS = 30


def _health_section(filters: DashboardFilters) -> dict[str, Any]:
    now = timezone.now()
    start = day_start(now)
    return {
        "day": usage.period_totals(start=start, end=now),
        "quality": _quality_today(start=start, now=now),
        "now": now,
    }


def _quality_today(*, start: datetime, now: datetime) -> quality.QualitySummary:
    return cache.get_or_set(
        f"dash:quality-today:{start.isoformat()}",
        lambda: quality.quality_summary(start=start, end=now),
        QUALITY_TODAY_CACHE_SECONDS,
    )


def _attention_section(filters: DashboardFilters) -> dict[str, Any]:
    now = timezone.now()
    month = DashboardFilters(range="custom", start=month_start(now), end=now)
    return {
        "alerts": overview_alerts(),
        "unpriced": usage_series.unpriced_models(filters=month),
    }


def _top_section(filters: DashboardFilters) -> dict[str, Any]:
    """The month's leaders, cached as long as the card's own poll interval: they
    aggregate every hour rollup since the 1st, so their cost grew with the
    month's traffic (overview p50 2.3x from 100 k to 1 M calls in
    bench/dashboard.py), and a ranking over weeks cannot visibly move in a minute."""
    now = timezone.now()
    start = month_start(now)

    def leaders() -> dict[str, Any]:
        month = DashboardFilters(range="custom", start=start, end=now)
        return {
            "top_agents": usage_series.top_by_cost(filters=month, dimension="agent"),
            "top_models": usage_series.top_by_cost(filters=month, dimension="model"),
        }

    return cache.get_or_set(
        f"dash:overview-top:{start.isoformat()}", leaders, SECTION_CACHE_SECONDS
    )


OVERVIEW_SECTIONS = {
    "overview-spend": Section("infra_dashboard/partials/overview-spend.html", _spend_section),
    "overview-health": Section("infra_dashboard/partials/overview-health.html", _health_section),
    "overview-attention": Section(
        "infra_dashboard/partials/overview-attention.html", _attention_section
    ),
    "overview-today": Section("infra_dashboard/partials/overview-today.html", today_charts_section),
    "overview-top": Section("infra_dashboard/partials/overview-top.html", _top_section),
}


# Today and this month at a glance; each card polls for itself.
overview = dashboard_page("infra_dashboard/overview.html", sections=OVERVIEW_SECTIONS)


async def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Deliberately touches nothing else."""
    return JsonResponse({"status": "ok"})


def _database_ready() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        logger.warning("readiness: database unreachable", exc_info=True)
        return False


def _broker_ready() -> bool:
    if not settings.CELERY_BROKER_URL:
        return True  # eager mode: there is no broker to reach
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # noqa: BLE001
        logger.warning("readiness: broker unreachable")
        return False


async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database and the broker are reachable."""
    checks = {
        "database": await sync_to_async(_database_ready)(),
        "broker": await sync_to_async(_broker_ready)(),
    }
    ready = all(checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


async def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of this process's counters."""
    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)
