"""Staff pages of the costs app (mounted under /costs/)."""

from __future__ import annotations

from django.urls import path

from costs import alert_pages, views

app_name = "costs"
urlpatterns = [
    path("", views.costs_page, name="dashboard"),
    path("export.csv", views.export_csv, name="export"),
    path("export.json", views.export_json, name="export_json"),
    path("budgets/", views.budgets_page, name="budgets"),
    path("budgets/<int:pk>/edit/", views.budget_edit, name="budget_edit"),
    path("budgets/<int:pk>/delete/", views.budget_delete, name="budget_delete"),
    path("alerts/", alert_pages.alerts_page, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", alert_pages.alert_acknowledge, name="alert_acknowledge"),
    path("alerts/<int:pk>/resolve/", alert_pages.alert_resolve, name="alert_resolve"),
]
