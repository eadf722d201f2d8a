"""Template context every page needs."""

from __future__ import annotations

from django.http import HttpRequest

from llm_gateway.provider_registry import mock_active


def gateway_status(request: HttpRequest) -> dict[str, object]:
    """Tell the layout whether answers are coming from the mock provider: no
    OpenAI key and no usable Provider row (an admin-configured Anthropic or
    Azure provider is real even without OPENAI_API_KEY)."""
    return {"mock_provider_active": mock_active()}
