from django.urls import path, re_path

from llm_gateway.api import feedback, openapi, views

urlpatterns = [
    path("v1/chat/completions", views.chat_completions, name="api-chat-completions"),
    path("v1/models", views.models, name="api-models"),
    path("api/v1/usage", views.usage, name="api-usage"),
    path("api/v1/budgets", views.budgets, name="api-budgets"),
    path("api/v1/feedback", feedback.feedback, name="api-feedback"),
    path("api/openapi.json", openapi.openapi_json, name="api-openapi"),
    re_path(r"^(?P<path>(v1|api/v1)/.*)$", views.not_found),
]
