from django.urls import path

from costs import views

app_name = "costs"
urlpatterns = [
    path("", views.cost_dashboard, name="dashboard"),
    path("export.csv", views.cost_export_csv, name="export"),
    path("budgets/", views.budgets_page, name="budgets"),
]
