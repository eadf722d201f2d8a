"""GET /api/v1/budgets through the live gateway, and the budget admin."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from calls.models import GatewayKey, LLMCall
from costs.budgets import budget_create
from costs.models import Budget, BudgetAlertEvent


@pytest.mark.django_db(transaction=True)
def test_the_budgets_endpoint_lists_the_budgets_that_apply_to_the_calling_key(
    live_gateway, make_key
):
    raw = make_key("CTO Agent")
    prefix = GatewayKey.objects.get(agent_name="CTO Agent").prefix
    budget_create(name="Everyone", amount="100", period="monthly")
    budget_create(
        name="CTO",
        amount="10",
        period="daily",
        scope="agent",
        scope_value="CTO Agent",
        action="block",
    )
    budget_create(name="This key", amount="5", period="weekly", scope="key", scope_value=prefix)
    budget_create(name="Bot", amount="5", scope="agent", scope_value="Support Bot")
    budget_create(name="Other key", amount="5", scope="key", scope_value="gw_someone")
    budget_create(name="Off", amount="5", enabled=False)
    LLMCall.objects.bulk_create(
        [LLMCall(agent_name="CTO Agent", key_prefix=prefix, cost=Decimal("2.5"))]
    )

    response = httpx.get(
        live_gateway.url + "/api/v1/budgets", headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["data"]}
    assert sorted(rows) == ["CTO", "Everyone", "This key"]
    cto = rows["CTO"]
    assert (cto["scope"], cto["period"], cto["action"]) == ("agent", "daily", "block")
    assert (cto["amount"], cto["spent"], cto["remaining"], cto["reserved"]) == (
        "10.0000",
        "2.5000000000",
        "7.5000000000",
        "0.0000000000",
    )
    assert cto["percent"] == "25.00"
    assert cto["period_start"] < cto["period_end"]
    assert Decimal(cto["forecast"]) >= Decimal("2.5")
    assert rows["This key"]["spent"] == "2.5000000000"


@pytest.mark.django_db(transaction=True)
def test_the_budgets_endpoint_needs_a_key(live_gateway):
    assert httpx.get(live_gateway.url + "/api/v1/budgets").status_code == 401


# --- admin ----------------------------------------------------------------------------


def budget_form(**fields) -> dict[str, str]:
    form = {
        "name": "Team",
        "enabled": "on",
        "scope": "global",
        "scope_value": "",
        "period": "monthly",
        "amount": "50",
        "action": "alert",
        "downgrade_model": "",
        "thresholds": "[0.5, 0.8, 1.0]",
        "emails": "",
        "webhook_url": "",
        "in_app": "on",
    }
    form.update(fields)
    return form


@pytest.mark.django_db
def test_a_valid_budget_is_added_in_the_admin(admin_client):
    response = admin_client.post("/admin/costs/budget/add/", budget_form())
    assert response.status_code == 302
    assert Budget.objects.get().thresholds == [0.5, 0.8, 1.0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount": "-5"}, "amount", "more than $0"),
        ({"thresholds": "[0.5, 20]"}, "thresholds", "at most 10"),
        ({"thresholds": "[0]"}, "thresholds", "above 0"),
        ({"emails": "ops@example.com, nope"}, "emails", "Not an email address: nope"),
        ({"webhook_url": "ftp://hooks.example.com/x"}, "webhook_url", "http://"),
        ({"webhook_url": "http://testserver/v1/chat"}, "webhook_url", "gateway itself"),
        ({"action": "downgrade"}, "downgrade_model", "Choose the model"),
        ({"scope": "agent"}, "scope_value", "Name the agent or model"),
    ],
)
def test_a_bad_budget_in_the_admin_gets_a_form_error_not_a_500(
    admin_client, fields, field, message
):
    response = admin_client.post("/admin/costs/budget/add/", budget_form(**fields))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in " ".join(errors[field])
    assert Budget.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_budget_list_shows_spend_and_percent_used(admin_client):
    budget_create(name="Team", amount="10", period="daily")
    LLMCall.objects.create(agent_name="A", cost=Decimal("2.5"))
    body = admin_client.get("/admin/costs/budget/?action__exact=alert").content.decode()
    assert "$2.50" in body and "25%" in body


@pytest.mark.django_db
def test_alert_events_are_read_only_and_show_each_channels_delivery(admin_client):
    budget = budget_create(name="Team", amount="10", emails="ops@example.com")
    event = BudgetAlertEvent.objects.create(
        budget=budget,
        period_start=budget.created_at,
        threshold=Decimal("0.5"),
        spent=Decimal("5"),
        amount=budget.amount,
        email_status="sent",
        webhook_status="failed",
    )
    listing = admin_client.get("/admin/costs/budgetalertevent/").content.decode()
    assert "sent" in listing and "failed" in listing
    change = f"/admin/costs/budgetalertevent/{event.id}/change/"
    assert admin_client.post(change, {"spent": "0"}).status_code == 403
    assert admin_client.get("/admin/costs/budgetalertevent/add/").status_code == 403
