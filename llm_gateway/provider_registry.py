"""Provider registry: kind name → class, and the providers a manager routes to.

Enabled ``Provider`` rows (the admin) come first, in priority order. The
environment's OpenAI settings stay the default provider for every model no
row claims, so the environment-only setup of DESIGN.md works unchanged with
no rows at all: OpenAI when ``OPENAI_API_KEY`` is set, otherwise the mock.
"""

from __future__ import annotations

from django.conf import settings

from calls.models import ProviderKind
from llm_gateway.interface import LLMProvider
from llm_gateway.providers.anthropic_provider import AnthropicProvider
from llm_gateway.providers.azure_provider import AzureOpenAIProvider
from llm_gateway.providers.mock_provider import MockProvider
from llm_gateway.providers.openai_provider import OpenAIProvider
from llm_gateway.providers.patterns import ServesPatterns
from llm_gateway.routing import (
    ProviderConfig,
    aprovider_configs,
    mark_default,
    provider_configs,
    usable_configs,
)

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Sent to keyless OpenAI-compatible servers (vLLM, Ollama ignore it). Never
# None: the SDK would then pick up OPENAI_API_KEY and send the real OpenAI
# key to a third-party server.
NO_KEY_PLACEHOLDER = "no-key"


class RoutedOpenAIProvider(ServesPatterns, OpenAIProvider):
    """OpenAI or an OpenAI-compatible server, configured by a ``Provider`` row."""


PROVIDER_KINDS: dict[str, type[LLMProvider]] = {
    "openai": RoutedOpenAIProvider,
    "openai_compatible": RoutedOpenAIProvider,
    "azure_openai": AzureOpenAIProvider,
    "anthropic": AnthropicProvider,
    "mock": MockProvider,
}


def build_provider(config: ProviderConfig) -> LLMProvider:
    """A provider for one row; the key is read from the environment now."""
    key = config.api_key() or NO_KEY_PLACEHOLDER
    patterns = config.models
    if config.kind == ProviderKind.AZURE_OPENAI:
        return AzureOpenAIProvider(
            api_key=key,
            endpoint=config.base_url,
            api_version=config.api_version,
            deployments=config.deployments,
            name=config.name,
            models=patterns,
        )
    if config.kind == ProviderKind.ANTHROPIC:
        return AnthropicProvider(
            api_key=key, base_url=config.base_url or None, name=config.name, models=patterns
        )
    provider = RoutedOpenAIProvider(
        api_key=key, base_url=config.base_url or OPENAI_DEFAULT_BASE_URL, name=config.name
    )
    provider.kind = config.kind
    provider.model_patterns = patterns
    return provider


def environment_provider() -> LLMProvider:
    """The provider DESIGN.md's environment variables describe."""
    if settings.OPENAI_API_KEY:
        return OpenAIProvider()
    return MockProvider(model=settings.LLM_MODEL)


def providers_from(configs: tuple[ProviderConfig, ...]) -> list[LLMProvider]:
    """Usable rows in priority order, then the environment's default provider."""
    enabled = [c for c in configs if c.enabled]
    providers = [build_provider(c) for c in usable_configs(configs)]
    default = environment_provider()
    if not any(c.name == default.name for c in enabled):
        providers.append(mark_default(default, enabled))
    return providers


def default_providers() -> list[LLMProvider]:
    """Synchronous: inside an event loop this uses the cached rows only (see routing)."""
    return providers_from(provider_configs())


async def adefault_providers() -> list[LLMProvider]:
    return providers_from(await aprovider_configs())


def mock_active() -> bool:
    """Whether the mock answers by default: no OpenAI key and no usable row."""
    return not settings.OPENAI_API_KEY and not usable_configs(provider_configs())
