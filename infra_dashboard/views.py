"""The overview page and the process/readiness probes."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from infra_dashboard import selectors

logger = logging.getLogger(__name__)


def overview(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    context = {
        "today": selectors.period_totals(start=selectors.day_start(now), end=now),
        "month": selectors.period_totals(start=selectors.month_start(now), end=now),
        "now": now,
    }
    template = "infra_dashboard/overview.html"
    if request.htmx:
        template = "infra_dashboard/partials/overview_cards.html"
    return render(request, template, context)


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
    from infra_dashboard.celery import app

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
    from llm_gateway.metrics import metrics_exposition

    body, content_type = metrics_exposition()
    return HttpResponse(body, content_type=content_type)
