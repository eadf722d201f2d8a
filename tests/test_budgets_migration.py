"""Migration 0004 carries first-version budgets over to the contract's fields."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from tests.migration_steps import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db(transaction=True)

# The gateway-key table is stepped back too: later llm_gateway migrations add
# NOT NULL columns that the historical GatewayKey model would not fill.
BEFORE = [("costs", "0003_budgets"), ("llm_gateway", "0002_provider")]
AFTER = [("costs", "0004_budget_contract"), ("llm_gateway", "0002_provider")]


@pytest.fixture(autouse=True)
def _back_to_latest():
    yield
    migrate_to_latest()


def test_key_budgets_get_the_keys_prefix_and_channels_become_fields():
    old = migrate(BEFORE)
    key = old.get_model("llm_gateway", "GatewayKey").objects.create(
        name="k", agent_name="A", prefix="gw_1a2b3c4d", key_hash="x"
    )
    budget = old.get_model("costs", "Budget").objects.create(
        name="Key cap",
        scope="key",
        gateway_key=key,
        amount=Decimal("5"),
        thresholds=["0.5", "1"],
        channels=[
            {"type": "email", "to": ["ops@example.com"]},
            {"type": "webhook", "url": "https://hooks.example.com/T0/x"},
        ],
    )
    old.get_model("costs", "BudgetAlertEvent").objects.create(
        budget=budget,
        period_start=timezone.now(),
        threshold=Decimal("0.5"),
        spend=Decimal("3"),
        amount=Decimal("5"),
        attempts=2,
        deliveries={"0": "sent"},
    )
    new = migrate(AFTER)
    migrated = new.get_model("costs", "Budget").objects.get()
    assert (migrated.scope, migrated.scope_value) == ("key", "gw_1a2b3c4d")
    assert (migrated.emails, migrated.webhook_url) == (
        "ops@example.com",
        "https://hooks.example.com/T0/x",
    )
    assert migrated.thresholds == [0.5, 1.0]
    event = new.get_model("costs", "BudgetAlertEvent").objects.get()
    assert (event.spent, event.email_status, event.webhook_status) == (
        Decimal("3"),
        "sent",
        "pending",
    )
