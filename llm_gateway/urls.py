"""Staff pages of the gateway: performance, the request explorer and call details."""

from __future__ import annotations

from django.urls import path

from llm_gateway import key_pages, session_views, views

urlpatterns = [
    path("performance/", views.performance, name="performance"),
    path("requests/", views.requests_list, name="requests"),
    path("requests/export.<str:fmt>", views.requests_export, name="requests_export"),
    path("requests/<uuid:call_id>/", views.request_detail, name="request_detail"),
    path("keys/", key_pages.keys_page, name="keys"),
    path("keys/<int:pk>/revoke/", key_pages.key_revoke, name="key_revoke"),
    path("sessions/", session_views.sessions_list, name="sessions"),
    path("sessions/<path:session_id>/", session_views.session_view, name="session_detail"),
]
