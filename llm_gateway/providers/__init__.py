"""Provider registry: kind name → class, and the default provider set.

Without configured providers the environment decides: OpenAI when
``OPENAI_API_KEY`` is set, otherwise the mock (the dashboard says so).
"""

from __future__ import annotations

from django.conf import settings

from llm_gateway.interface import LLMProvider
from llm_gateway.providers.mock_provider import MockProvider
from llm_gateway.providers.openai_provider import OpenAIProvider

PROVIDER_KINDS: dict[str, type[LLMProvider]] = {
    "openai": OpenAIProvider,
    "openai_compatible": OpenAIProvider,
    "mock": MockProvider,
}


def default_providers() -> list[LLMProvider]:
    if settings.OPENAI_API_KEY:
        return [OpenAIProvider()]
    return [MockProvider(model=settings.LLM_MODEL)]


def mock_active() -> bool:
    return not settings.OPENAI_API_KEY
