"""Staff pages of the costs app."""

from __future__ import annotations

from django.urls import path

from costs import views

urlpatterns = [
    path("costs/", views.costs_page, name="costs"),
    path("costs/budgets/", views.budgets_page, name="budgets"),
    path("costs/export.csv", views.export_csv, name="costs_export_csv"),
    path("costs/export.json", views.export_json, name="costs_export_json"),
]
