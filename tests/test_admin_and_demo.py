"""The admin reads as the product, and `make run`'s demo data fills every page."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command

from calls.models import GatewayKey, LLMCall
from costs.models import Budget, BudgetAlertEvent, InAppAlert
from costs.selectors import budget_status
from validation.models import ValidationResult

pytestmark = pytest.mark.django_db


def test_pages_and_the_admin_have_a_favicon_and_the_admin_is_branded(staff_client, admin_client):
    assert b'rel="icon" href="/static/favicon.svg"' in staff_client.get("/").content
    index = admin_client.get("/admin/").content.decode()
    assert 'rel="icon" href="/static/favicon.svg"' in index
    assert "LLM Gateway" in index and "Django administration" not in index
    assert "LLM calls" in index and "Llm calls" not in index
    assert staff_client.get("/static/favicon.svg").status_code == 200


def test_the_admin_call_log_shows_dollars_and_milliseconds_and_is_read_only(admin_client):
    call = LLMCall.objects.create(
        agent_name="A", model="gpt-4o", cost=Decimal("0.0001230000"), latency_ms=1234.4
    )
    listing = admin_client.get("/admin/llm_gateway/llmcall/").content.decode()
    assert "$0.000123" in listing and "1,234 ms" in listing
    assert "0.0001230000" not in listing
    change = admin_client.post(f"/admin/llm_gateway/llmcall/{call.pk}/change/", {"cost": "9"})
    assert change.status_code == 403


@pytest.fixture
def demo(prices, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # alert delivery runs on commit
        call_command("seed_demo_data", calls=1500, days=30)


def test_demo_data_has_budgets_under_warned_and_exceeded_with_alerts(demo):
    fractions = sorted(budget_status(budget=b).fraction for b in Budget.objects.all())
    assert fractions[0] < Decimal("0.8")  # comfortably under
    assert any(Decimal("0.8") <= f < 1 for f in fractions)  # past its warning
    assert fractions[-1] >= 1  # overspent
    assert BudgetAlertEvent.objects.filter(threshold=1).exists()
    assert InAppAlert.objects.filter(level="critical").exists()


def test_demo_data_has_validation_failures_bodies_cache_hits_and_keys(demo):
    results = ValidationResult.objects.all()
    assert results.count() > 500 and results.filter(is_valid=False).count() > 20
    stored = LLMCall.objects.exclude(request_body=None)
    assert stored.count() == LLMCall.objects.count()
    assert "[REDACTED]" in str(list(stored.values_list("request_body", flat=True)))
    assert "sk-proj-" not in str(list(stored.values_list("request_body", flat=True)))
    hits = LLMCall.objects.filter(cache_hit=True)
    assert hits.exists() and all(c.cost == 0 and c.saved_cost > 0 for c in hits)
    keys = GatewayKey.objects.filter(revoked_at=None)
    assert keys.count() >= 3 and all(k.last_used_at for k in keys)
    assert LLMCall.objects.filter(gateway_key__in=keys).exists()
    assert not LLMCall.objects.filter(source="python").exclude(http_status=None).exists()


def test_a_benchmark_sized_seed_adds_calls_only(prices):
    call_command("seed_demo_data", calls=300, days=3, calls_only=True)
    assert (
        LLMCall.objects.count() == 300 and LLMCall.objects.exclude(request_body=None).count() == 0
    )
    assert not Budget.objects.exists() and not ValidationResult.objects.exists()
