"""One budget forecast: the overview, the budgets page and /api/v1/budgets agree."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from costs.budgets import budget_create
from costs.selectors import budget_forecast, budget_status
from tests.factories import LLMCallFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen_now(monkeypatch):
    """Every reader sees the same instant: the forecast depends on the time elapsed."""
    now = timezone.now().replace(microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def test_the_overview_the_budgets_page_and_the_api_show_the_same_forecast(
    staff_client, client, make_key, frozen_now
):
    budget = budget_create(name="Team", amount="50", period="weekly")
    key = make_key("forecaster")
    LLMCallFactory(
        agent_name="forecaster", cost=Decimal("3.2"), created_at=frozen_now - timedelta(minutes=1)
    )
    status = budget_status(budget=budget, at=frozen_now)
    expected = budget_forecast(
        spend=Decimal("3.2"), start=status.period_start, end=status.period_end, now=frozen_now
    )
    assert status.forecast == expected > Decimal("3.2")

    overview = staff_client.get("/")
    (line,) = overview.context["budgets"]
    page = staff_client.get("/costs/budgets/")
    (shown,) = page.context["statuses"]
    api = client.get("/api/v1/budgets", headers={"Authorization": f"Bearer {key}"})
    (row,) = api.json()["data"]

    assert line.forecast == shown.forecast == Decimal(row["forecast"]) == expected
    assert f"forecast ${expected:,.2f}" in page.content.decode()
