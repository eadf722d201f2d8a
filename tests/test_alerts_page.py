"""The alerts page: every in-app alert, filtered, acknowledged and resolved by staff."""

from __future__ import annotations

import pytest

from costs.alerts import in_app_alert_raise
from costs.budgets import budget_create
from costs.models import InAppAlert

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts():
    team = budget_create(name="Team", amount="10")
    other = budget_create(name="Other", amount="20")
    return {
        "critical": in_app_alert_raise(title="Team spent", level="critical", budget=team),
        "warning": in_app_alert_raise(title="Team at 80%", level="warning", budget=team),
        "other": in_app_alert_raise(title="Other at 50%", level="warning", budget=other),
        "unpriced": in_app_alert_raise(title="No price for model acme-1", level="warning"),
    }


def _titles(response) -> list[str]:
    return [a.title for a in response.context["alerts"]]


def test_staff_see_every_open_alert_newest_first_with_counts(staff_client, alerts):
    response = staff_client.get("/costs/alerts/")
    assert response.status_code == 200
    assert _titles(response) == [
        "No price for model acme-1",
        "Other at 50%",
        "Team at 80%",
        "Team spent",
    ]
    assert response.context["counts"] == {"open": 4, "unacknowledged": 4, "critical": 1}
    assert b'href="/costs/alerts/"' in response.content  # in the navigation


def test_alerts_filter_by_budget_level_and_state(staff_client, alerts):
    team = alerts["critical"].budget_id
    assert _titles(staff_client.get(f"/costs/alerts/?budget={team}")) == [
        "Team at 80%",
        "Team spent",
    ]
    assert _titles(staff_client.get("/costs/alerts/?level=critical")) == ["Team spent"]
    assert _titles(staff_client.get("/costs/alerts/?state=resolved")) == []
    # A hand-edited link still opens, with the defaults.
    assert staff_client.get("/costs/alerts/?level=loud&state=x&budget=abc").status_code == 200


def test_staff_acknowledge_then_resolve_an_alert(staff_client, alerts):
    alert = alerts["critical"]
    back = "/costs/alerts/?level=critical"
    response = staff_client.post(f"/costs/alerts/{alert.pk}/acknowledge/", {"back": back})
    assert response.status_code == 302 and response["Location"] == back
    alert.refresh_from_db()
    assert (alert.state, alert.acknowledged_by) == ("acknowledged", "staff")
    listing = staff_client.get("/costs/alerts/?state=unacknowledged")
    assert "Team spent" not in _titles(listing)
    assert "Team spent" in _titles(staff_client.get("/costs/alerts/"))  # still open
    staff_client.post(f"/costs/alerts/{alert.pk}/resolve/", {"back": "https://evil.example/"})
    alert.refresh_from_db()
    assert (alert.state, alert.resolved_by) == ("resolved", "staff")
    assert _titles(staff_client.get("/costs/alerts/?state=resolved")) == ["Team spent"]


def test_acknowledging_twice_keeps_the_first_name_and_gets_no_500(staff_client, alerts):
    alert = alerts["warning"]
    InAppAlert.objects.filter(pk=alert.pk).update(acknowledged_by="first")
    InAppAlert.objects.filter(pk=alert.pk).update(acknowledged_at=alert.created_at)
    response = staff_client.post(f"/costs/alerts/{alert.pk}/acknowledge/", follow=True)
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_by == "first"


def test_a_get_never_changes_an_alert(staff_client, alerts):
    alert = alerts["warning"]
    assert staff_client.get(f"/costs/alerts/{alert.pk}/resolve/").status_code == 405
    alert.refresh_from_db()
    assert alert.resolved_at is None


def test_alerts_are_paged_by_keyset(staff_client, monkeypatch):
    monkeypatch.setattr("costs.alert_pages.PAGE_SIZE", 2)
    for i in range(5):
        in_app_alert_raise(title=f"alert {i}")
    first = staff_client.get("/costs/alerts/")
    assert _titles(first) == ["alert 4", "alert 3"]
    second = staff_client.get(f"/costs/alerts/?before={first.context['next_before']}")
    assert _titles(second) == ["alert 2", "alert 1"]
    third = staff_client.get(f"/costs/alerts/?before={second.context['next_before']}")
    assert _titles(third) == ["alert 0"] and third.context["next_before"] is None
