"""Shared helpers of the tests/test_providers_*.py modules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from calls.models import Provider
from costs.pricing import call_cost, price_for
from llm_gateway.manager import LLMManager


@pytest.fixture(autouse=True)
def fresh_routing():
    """Rows of a rolled-back test send no post_delete: drop the cache around each test."""
    from llm_gateway.health import clear_health_checks
    from llm_gateway.routing import invalidate_provider_cache

    invalidate_provider_cache()
    clear_health_checks()
    yield
    invalidate_provider_cache()
    clear_health_checks()


def run(coro_fn: Any, *args: Any, **kwargs: Any) -> Any:
    return async_to_sync(coro_fn)(*args, **kwargs)


def add_provider(**fields: Any) -> Provider:
    """Create a validated row, as the admin would."""
    row = Provider(**fields)
    row.full_clean()
    row.save()
    return row


def anthropic_row(fake: Any, *, name: str = "claude", env: str = "TEST_ANTHROPIC_KEY", **kw: Any):
    options = {"kind": "anthropic", "base_url": fake.base_url, "api_key_env": env}
    return add_provider(name=name, models=kw.pop("models", ["claude-*"]), **options, **kw)


def claude_only(fake: Any, monkeypatch: Any, settings: Any, *, key: str, env: str) -> Any:
    """The Anthropic fake as the one route for Claude models: no mock, no fallback."""
    settings.LLM_MOCK_FALLBACK = False
    settings.LLM_FALLBACK_MODELS = []
    monkeypatch.setenv(env, key)
    fake.expected_api_key = key
    anthropic_row(fake, name="claude", env=env)
    return fake


def routed_manager(**kwargs: Any) -> LLMManager:
    """A manager built from the rows, as the HTTP API builds it."""
    options = {"mock_fallback": False, "max_retries": 1, "timeout": 30}
    options.update(kwargs)
    return LLMManager(**options)


def expected_cost(kind: str, model: str, **tokens: int) -> Decimal:
    return call_cost(price_for(model, provider=kind), **tokens)
