"""The skeleton: settings, login rules, probes, static assets, services."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from calls.models import LLMCall

pytestmark = pytest.mark.django_db


def test_settings_are_utc_and_timezone_aware():
    assert settings.USE_TZ is True
    assert settings.TIME_ZONE == "UTC"


def test_tasks_run_eagerly_without_a_broker():
    if settings.CELERY_BROKER_URL:
        pytest.skip("a broker is configured")
    assert settings.CELERY_TASK_ALWAYS_EAGER is True
    from infra_dashboard.tasks import ping

    assert ping.delay().get(timeout=5)["eager"] is True


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_non_staff_user_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user(username="agent", password="x-pass-12345")
    client.force_login(user)
    assert client.get("/").status_code == 403


def test_overview_shows_numbers_from_the_database(staff_client):
    LLMCall.objects.create(
        agent_name="a", model="gpt-4o-mini", cost=Decimal("0.1234"), total_tokens=42
    )
    response = staff_client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "$0.1234" in body
    assert "Mock provider" in body or settings.OPENAI_API_KEY


def test_overview_partial_is_served_to_htmx(staff_client):
    response = staff_client.get("/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b"Spend today" in response.content


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_need_no_login(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/static/vendor/plotly.min.js", "/static/css/app.css"])
def test_static_assets_are_served_locally(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


def test_htmx_script_is_served_locally(staff_client):
    body = staff_client.get("/").content.decode()
    assert "/static/django_htmx/htmx" in body
    assert "https://" not in body.split("<body")[0]


def test_ensure_staff_is_idempotent_and_random(capsys, django_user_model):
    call_command("ensure_staff")
    first = capsys.readouterr().out
    assert "password:" in first
    call_command("ensure_staff")
    assert "exists" in capsys.readouterr().out
    assert django_user_model.objects.filter(is_staff=True).count() == 1


def test_database_vendor_is_the_one_configured():
    expected = os.environ.get("EXPECT_DB_VENDOR")
    url_vendor = (
        "postgresql" if settings.DATABASES["default"]["ENGINE"].endswith("postgresql") else "sqlite"
    )
    assert connection.vendor == (expected or url_vendor)


@pytest.mark.postgres
def test_postgres_run_really_uses_postgres():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert "PostgreSQL" in cursor.fetchone()[0]


@pytest.mark.celery_worker
def test_a_task_goes_through_a_real_worker_over_redis():
    from infra_dashboard.tasks import ping

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    result = ping.delay().get(timeout=30)
    assert result["eager"] is False
    assert result["hostname"].startswith("ci-worker@")
    assert result["routing_key"] == "celery"
