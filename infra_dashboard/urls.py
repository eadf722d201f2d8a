"""Top-level URLs. Each app adds its own under its prefix."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from costs import user_pages
from infra_dashboard import views

admin.site.site_header = "LLM Gateway admin"
admin.site.site_title = "LLM Gateway admin"
admin.site.index_title = "Prices, budgets, keys, providers and the call log"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("", include("llm_gateway.api.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("costs/", include("costs.urls")),
    path("users/", user_pages.users_list, name="users"),
    path("admin/", admin.site.urls),
    path("", include("llm_gateway.urls")),
    path("", include("validation.urls")),
]
