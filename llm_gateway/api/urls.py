from django.urls import path, re_path

from llm_gateway.api import feedback, openapi, views, views_operations

urlpatterns = [
    path("v1/chat/completions", views.chat_completions, name="api-chat-completions"),
    path("v1/messages", views.messages, name="api-messages"),
    path("v1/messages/count_tokens", views.count_tokens, name="api-messages-count-tokens"),
    path("v1/models", views.models, name="api-models"),
    re_path(r"^v1/models/(?P<model_id>[\s\S]+)$", views_operations.model_detail, name="api-model"),
    path("v1/embeddings", views_operations.operation, name="api-embeddings"),
    path("v1/responses", views_operations.operation, name="api-responses"),
    path(
        "v1/responses/<str:response_id>",
        views_operations.response_item,
        name="api-response",
    ),
    path("v1/completions", views_operations.operation, name="api-completions"),
    path("v1/moderations", views_operations.operation, name="api-moderations"),
    path("api/v1/usage", views.usage, name="api-usage"),
    path("api/v1/budgets", views.budgets, name="api-budgets"),
    path("api/v1/feedback", feedback.feedback, name="api-feedback"),
    path("api/openapi.json", openapi.openapi_json, name="api-openapi"),
    re_path(r"^(?P<path>(v1|api/v1)/[\s\S]*)$", views.not_found),
]
