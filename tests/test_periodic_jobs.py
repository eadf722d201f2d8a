"""Periodic jobs without a broker: the serving process runs the beat schedule itself."""

from __future__ import annotations

import asyncio
import threading
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from calls.models import LLMCall
from costs.budgets import budget_create
from costs.models import BudgetAlertEvent, InAppAlert
from infra_dashboard.scheduler import EmbeddedScheduler, periodic_jobs_start, periodic_jobs_stop


def _overspend(amount: str = "1", cost: str = "2.5") -> None:
    """A budget, and calls past it recorded without the per-call refresh (bulk,
    no signal): what the last call before a quiet night looks like once the
    refresh throttle has swallowed it."""
    budget_create(name="Nightly", amount=amount, period="daily", thresholds=[0.8, 1])
    now = timezone.now()
    LLMCall.objects.bulk_create(
        [LLMCall(agent_name="Batch", model="gpt-4o", cost=Decimal(cost), created_at=now)]
    )


@pytest.mark.django_db
def test_an_overspent_budget_alerts_on_the_next_tick_with_no_further_traffic(
    django_capture_on_commit_callbacks,
):
    _overspend()
    assert BudgetAlertEvent.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        EmbeddedScheduler.from_beat_schedule(settings.CELERY_BEAT_SCHEDULE).run_due()
    events = BudgetAlertEvent.objects.order_by("threshold")
    assert [e.threshold for e in events] == [Decimal("0.8"), Decimal("1")]
    assert all(e.delivered_at is not None for e in events)  # in-app delivery ran too
    assert InAppAlert.objects.filter(level="critical").count() == 1


def test_each_job_runs_again_after_its_own_interval(monkeypatch):
    ran: list[str] = []
    now = [0.0]
    scheduler = EmbeddedScheduler.from_beat_schedule(
        {"fast": {"task": "a.fast", "schedule": 30}, "slow": {"task": "a.slow", "schedule": 60}}
    )
    scheduler.clock = lambda: now[0]
    monkeypatch.setattr(
        "infra_dashboard.scheduler.import_string", lambda path: lambda: ran.append(path)
    )
    for now[0] in (0.0, 10.0, 31.0, 45.0, 61.0, 62.0):
        scheduler.run_due()
    assert ran == ["a.fast", "a.slow", "a.fast", "a.fast", "a.slow"]


def test_a_failing_job_does_not_stop_the_others(monkeypatch, caplog):
    ran: list[str] = []

    def job(path: str):
        def run() -> None:
            if path == "a.broken":
                raise RuntimeError("database away")
            ran.append(path)

        return run

    monkeypatch.setattr("infra_dashboard.scheduler.import_string", job)
    scheduler = EmbeddedScheduler.from_beat_schedule(
        {"broken": {"task": "a.broken", "schedule": 1}, "fine": {"task": "a.fine", "schedule": 1}}
    )
    assert scheduler.run_due() == ["broken", "fine"]
    assert ran == ["a.fine"]
    assert "periodic job broken failed" in caplog.text


def _job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "periodic-jobs" and t.is_alive()]


def _serve_and_stop() -> int:
    """Run the ASGI lifespan through startup and shutdown; the number of job
    threads alive in between."""
    from infra_dashboard.asgi import application

    queue = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    seen: list[int] = []

    async def receive() -> dict:
        if queue[0]["type"] == "lifespan.shutdown":
            seen.append(len(_job_threads()))
        return queue.pop(0)

    async def send(message: dict) -> None:
        pass

    asyncio.run(application({"type": "lifespan"}, receive, send))
    return seen[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("in_process", "threads"), [(True, 1), (False, 0)])
def test_the_server_runs_the_jobs_from_startup_to_shutdown_only_when_asked(
    settings, in_process, threads
):
    settings.PERIODIC_JOBS_IN_PROCESS = in_process
    assert _serve_and_stop() == threads
    assert _job_threads() == []


@pytest.mark.django_db(transaction=True)
def test_the_jobs_thread_alerts_on_an_overspent_budget_without_any_call(settings):
    settings.PERIODIC_JOBS_IN_PROCESS = True
    _overspend()
    assert periodic_jobs_start() is not None
    try:
        deadline = time.monotonic() + 15
        while not BudgetAlertEvent.objects.filter(threshold=1).exists():
            assert time.monotonic() < deadline, "no alert from the periodic jobs"
            time.sleep(0.1)
    finally:
        periodic_jobs_stop()
    assert _job_threads() == []


def test_no_broker_means_the_jobs_run_in_the_server_by_default():
    assert settings.PERIODIC_JOBS_IN_PROCESS is (not settings.CELERY_BROKER_URL)
