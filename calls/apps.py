from __future__ import annotations

from django.apps import AppConfig


class CallsConfig(AppConfig):
    """The call log's models keep the label they were created under, so tables,
    migration history, content types, permissions and /admin/llm_gateway/ URLs
    are unchanged by the move into this package."""

    name = "calls"
    label = "llm_gateway"
    verbose_name = "LLM gateway"
