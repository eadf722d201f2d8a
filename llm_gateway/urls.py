"""Staff pages of the gateway: performance, the request explorer and call details."""

from __future__ import annotations

from django.urls import path

from llm_gateway import session_views, views

urlpatterns = [
    path("performance/", views.performance, name="performance"),
    path("requests/", views.requests_list, name="requests"),
    path("requests/<uuid:call_id>/", views.request_detail, name="request_detail"),
    path("sessions/", session_views.sessions_list, name="sessions"),
    path("sessions/<path:session_id>/", session_views.session_view, name="session_detail"),
]
