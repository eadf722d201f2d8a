"""Budget thresholds typed by people, and pausing or deleting a budget from its page."""

from __future__ import annotations

import pytest

from costs.budgets import budget_create
from costs.models import Budget, BudgetAlertEvent
from tests.test_budgets_api import budget_form

pytestmark = pytest.mark.django_db

ADMIN_FORM = {k: v for k, v in budget_form().items() if k != "thresholds"}
PAGE_FORM = {k: v for k, v in ADMIN_FORM.items() if k != "enabled"}


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("0.5, 0.8, 1", [0.5, 0.8, 1.0]),
        ("50%, 80%, 100%", [0.5, 0.8, 1.0]),
        ("80 %; 0.5", [0.5, 0.8]),
        ("[0.5, 0.8, 1.0]", [0.5, 0.8, 1.0]),
        ("0.9 150%", [0.9, 1.5]),
    ],
)
def test_the_page_and_the_admin_read_thresholds_the_same_way(
    staff_client, admin_client, typed, stored
):
    page = staff_client.post("/costs/budgets/", {**PAGE_FORM, "thresholds": typed})
    admin = admin_client.post("/admin/costs/budget/add/", {**ADMIN_FORM, "thresholds": typed})
    assert (page.status_code, admin.status_code) == (302, 302)
    assert [b.thresholds for b in Budget.objects.all()] == [stored, stored]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("5", "would mean 500% of the amount"),
        ("0.5, 1.2", "would mean 120% of the amount"),
        ("1200%", "at most 10 (1000 %)"),
        ("0", "above 0"),
        ("-50%", "above 0"),
        ("lots", "not a number"),
        ("", "at least one threshold"),
    ],
)
def test_out_of_range_or_ambiguous_thresholds_get_a_form_error_on_both_forms(
    staff_client, admin_client, typed, message
):
    page = staff_client.post("/costs/budgets/", {**PAGE_FORM, "thresholds": typed})
    admin = admin_client.post("/admin/costs/budget/add/", {**ADMIN_FORM, "thresholds": typed})
    assert page.status_code == 400
    assert message in " ".join(page.context["form"].errors["thresholds"])
    assert admin.status_code == 200
    assert message in " ".join(admin.context["adminform"].form.errors["thresholds"])
    assert Budget.objects.count() == 0


def test_thresholds_above_one_are_shown_as_percentages_when_edited(staff_client, admin_client):
    budget = budget_create(name="Stretch", amount="10", thresholds=[0.8, 1.5])
    page = staff_client.get(f"/costs/budgets/{budget.pk}/edit/").content.decode()
    admin = admin_client.get(f"/admin/costs/budget/{budget.pk}/change/").content.decode()
    assert 'value="0.8, 150%"' in page and 'value="0.8, 150%"' in admin


def test_a_budget_is_paused_from_its_edit_page(staff_client):
    budget = budget_create(name="Team", amount="10")
    form = {**PAGE_FORM, "name": "Team", "amount": "10", "thresholds": "0.5, 1"}
    assert staff_client.post(f"/costs/budgets/{budget.pk}/edit/", form).status_code == 302
    budget.refresh_from_db()
    assert budget.enabled is False
    form["enabled"] = "on"
    staff_client.post(f"/costs/budgets/{budget.pk}/edit/", form)
    budget.refresh_from_db()
    assert budget.enabled is True


def test_a_budget_is_deleted_after_a_confirmation_page(staff_client):
    budget = budget_create(name="Old cap", amount="10")
    BudgetAlertEvent.objects.create(
        budget=budget, period_start=budget.created_at, threshold="0.5", spent="5", amount="10"
    )
    edit = staff_client.get(f"/costs/budgets/{budget.pk}/edit/").content.decode()
    assert f"/costs/budgets/{budget.pk}/delete/" in edit
    confirm = staff_client.get(f"/costs/budgets/{budget.pk}/delete/")
    assert b"1 alert record" in confirm.content
    assert Budget.objects.filter(pk=budget.pk).exists()  # a GET never deletes
    response = staff_client.post(f"/costs/budgets/{budget.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/costs/budgets/"
    assert not Budget.objects.filter(pk=budget.pk).exists()
    assert BudgetAlertEvent.objects.count() == 0
