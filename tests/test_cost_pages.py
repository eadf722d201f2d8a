"""The cost dashboard, budgets page and CSV export, through the staff client."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from calls.models import LLMCall
from costs.budgets import budget_create
from costs.models import Budget
from costs.rollups import rollups_update

pytestmark = pytest.mark.django_db


@pytest.fixture
def usage():
    when = timezone.now() - timedelta(hours=2)
    for agent, model, cost in [
        ("CTO Agent", "gpt-4o", "1.5"),
        ("Support Bot", "gpt-4o-mini", "0.25"),
        ("=cmd|' /C calc'!A0", "gpt-4o-mini", "0.01"),
    ]:
        LLMCall.objects.create(
            created_at=when,
            recorded_at=when,
            agent_name=agent,
            model=model,
            provider="openai",
            cost=Decimal(cost),
            total_tokens=100,
            prompt_tokens=90,
            completion_tokens=10,
        )
    rollups_update()


def test_cost_dashboard_shows_spend_and_a_figure(staff_client, usage):
    body = staff_client.get("/costs/?range=24h&by=agent").content.decode()
    assert "$1.76" in body
    assert "CTO Agent" in body
    assert "Plotly.newPlot" in body  # server-built figure (dashkit.figures)
    assert "/static/vendor/plotly.min.js" in body


def test_cost_filters_narrow_the_numbers(staff_client, usage):
    body = staff_client.get("/costs/?range=24h&model=gpt-4o-mini").content.decode()
    assert "$0.26" in body
    assert "$1.76" not in body


def test_htmx_refresh_gets_only_the_panels(staff_client, usage):
    response = staff_client.get("/costs/?range=24h", HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content
    assert b"Cost per call" in response.content


def test_an_invalid_filter_falls_back_to_defaults(staff_client):
    assert staff_client.get("/costs/?range=forever&by=nonsense").status_code == 200


def test_cost_pages_need_staff(client):
    assert client.get("/costs/").status_code == 302
    assert client.get("/costs/budgets/").status_code == 302
    assert client.get("/costs/export.csv").status_code == 302


def test_csv_export_keeps_exact_money_and_defuses_formulas(staff_client, usage):
    response = staff_client.get("/costs/export.csv?range=24h")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["bucket_start_utc", "granularity", "agent"]
    by_agent = {row[2]: row for row in rows[1:]}
    assert by_agent["CTO Agent"][10] == "1.5000000000"
    assert "'=cmd|' /C calc'!A0" in by_agent


def test_budgets_page_shows_spend_against_each_budget(staff_client):
    budget_create(name="Team cap", amount="2", period="daily", action="block")
    LLMCall.objects.create(agent_name="A", cost=Decimal("3"))
    body = staff_client.get("/costs/budgets/").content.decode()
    assert "Team cap" in body
    assert "150%" in body
    assert "blocking" in body


def test_a_budget_is_created_from_the_page(staff_client):
    response = staff_client.post(
        "/costs/budgets/",
        {
            "name": "Research",
            "scope": "agent",
            "scope_value": "Research Agent",
            "period": "monthly",
            "amount": "50",
            "action": "alert",
            "thresholds": "0.9, 0.5",
            "emails": "ops@example.com",
            "in_app": "on",
        },
    )
    assert response.status_code == 302
    budget = Budget.objects.get()
    assert budget.thresholds == [0.5, 0.9]
    assert budget.email_list == ["ops@example.com"]


def test_an_invalid_budget_form_is_shown_again_with_errors(staff_client):
    response = staff_client.post(
        "/costs/budgets/",
        {
            "name": "X",
            "scope": "agent",
            "period": "daily",
            "amount": "5",
            "action": "alert",
            "thresholds": "0.5",
        },
    )
    assert response.status_code == 400
    assert Budget.objects.count() == 0
    assert "Name the agent or model" in response.content.decode()


def test_webhook_urls_are_not_shown_on_the_budgets_page(staff_client):
    budget_create(
        name="Hooked",
        amount="5",
        webhook_url="https://hooks.example.com/T0/s3cr3t",
    )
    body = staff_client.get("/costs/budgets/").content.decode()
    assert "Hooked" in body
    assert "s3cr3t" not in body


def test_staff_edit_a_budget_on_the_page_and_bad_values_get_form_errors(staff_client):
    from costs.budgets import budget_create

    budget = budget_create(name="Team cap", amount="10", period="daily")
    url = f"/costs/budgets/{budget.pk}/edit/"
    page = staff_client.get(url)
    assert page.status_code == 200 and b"0.5, 0.8, 1" in page.content
    form = {
        "name": "Team cap",
        "scope": "global",
        "scope_value": "",
        "period": "weekly",
        "amount": "25",
        "action": "alert",
        "downgrade_model": "",
        "emails": "",
        "webhook_url": "",
        "in_app": "on",
        "thresholds": "0.5, 1",
    }
    assert staff_client.post(url, form).status_code == 302
    budget.refresh_from_db()
    assert (budget.period, str(budget.amount), budget.thresholds) == (
        "weekly",
        "25.0000",
        [0.5, 1.0],
    )
    bad = staff_client.post(url, {**form, "amount": "-3", "thresholds": "0.5, 99"})
    assert bad.status_code == 400
    assert b"errorlist" in bad.content
    budget.refresh_from_db()
    assert str(budget.amount) == "25.0000"
