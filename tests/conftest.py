"""Shared fixtures and the rules that decide which tests run where.

The same suite runs twice in CI: on the embedded defaults (SQLite, eager
Celery) and on the real services. Markers say what a test needs; tests whose
needs are not met here are skipped with the reason, never silently passed.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.conf import settings

from tests.fake_anthropic import fake_anthropic  # noqa: F401 - fixture
from tests.fake_openai import fake_openai  # noqa: F401 - fixture


def _services_configured() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and bool(
        settings.CELERY_BROKER_URL and settings.REDIS_URL
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    reasons = {
        "postgres": (not on_postgres, "needs DATABASE_URL=postgres://…"),
        "services": (not _services_configured(), "needs Postgres, CELERY_BROKER_URL and REDIS_URL"),
        "celery_worker": (
            os.environ.get("CELERY_WORKER_RUNNING") != "1",
            "needs a running Celery worker (CELERY_WORKER_RUNNING=1, see .ci/run)",
        ),
        "browser": (
            shutil.which("chromium") is None,
            "needs Debian's chromium (make browser-test)",
        ),
    }
    for item in items:
        for marker, (skip, reason) in reasons.items():
            if skip and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _celery_mode(request: pytest.FixtureRequest):
    """Run tasks in-process unless the test asks for the real worker.

    With a broker configured, a task published from inside a test transaction
    would reach a worker that cannot see the uncommitted rows; only tests marked
    ``celery_worker`` (which commit their data) publish for real.
    """
    from infra_dashboard.celery import app

    eager = request.node.get_closest_marker("celery_worker") is None
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager or not settings.CELERY_BROKER_URL
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="staff", password="staff-pass-123", is_staff=True
    )


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture(autouse=True)
def _closed_circuits():
    """Each test starts with every provider's circuit closed."""
    from llm_gateway.circuit import breaker

    breaker.reset()
    yield
    breaker.reset()


@pytest.fixture
def prices(db):
    """The shipped price table, loaded into the test database."""
    from django.core.management import call_command

    call_command("load_prices", verbosity=0)
