"""Model → providers resolution, the environment default, and the row cache."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from calls.models import LLMCall, Provider
from llm_gateway.interface import LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.provider_registry import NO_KEY_PLACEHOLDER, default_providers, mock_active
from llm_gateway.providers.mock_provider import MockProvider
from llm_gateway.providers.openai_provider import OpenAIProvider
from llm_gateway.providers.patterns import serves_model
from llm_gateway.routing import provider_configs, providers_for
from tests.providers_support import (
    add_provider,
    fresh_routing,  # noqa: F401 - fixture
    routed_manager,
    run,
)

pytestmark = pytest.mark.django_db(transaction=False)


@pytest.fixture
def keys(monkeypatch):
    for name in ("KEY_A", "KEY_B", "KEY_C"):
        monkeypatch.setenv(name, f"value-of-{name}")


def compatible(name: str, *, priority: int = 100, models=(), **kw) -> Provider:
    options = {"base_url": "http://127.0.0.1:9/v1", "api_key_env": "KEY_A"}
    options.update(kw)
    return add_provider(
        name=name, kind="openai_compatible", priority=priority, models=list(models), **options
    )


def names(model: str, manager: LLMManager | None = None) -> list[str]:
    manager = manager or routed_manager()
    return [a.provider.name for a in manager.plan(LLMRequest(prompt="x", model=model))]


def test_patterns_match_exact_names_and_globs():
    assert serves_model("claude-haiku-4-5", ["claude-*"])
    assert serves_model("gpt-4o", ["gpt-4o", "o*"]) and not serves_model("gpt-4o-mini", ["gpt-4o"])
    assert serves_model("anything", [])


def test_a_model_resolves_to_its_providers_in_priority_order(keys, settings):
    settings.OPENAI_API_KEY = ""
    compatible("slow", priority=50, models=["llama-*"])
    compatible("fast", priority=10, models=["llama-*", "qwen-*"])
    compatible("other", priority=1, models=["mistral-*"])
    compatible("off", priority=0, models=["llama-*"], enabled=False)

    assert names("llama-3-70b") == ["fast", "slow"]
    assert names("qwen-2") == ["fast"]
    plan = routed_manager().plan(LLMRequest(prompt="x", model="llama-3-70b"))
    assert [a.fallback for a in plan] == ["", "provider"]


def test_environment_default_only_gets_models_no_row_claims(keys, settings):
    settings.OPENAI_API_KEY = "sk-env-default"
    compatible("local", models=["llama-*"])
    assert names("llama-3") == ["local"]  # never failed over to OpenAI as a 404
    assert names("gpt-4o-mini") == ["openai"]


def test_a_catch_all_row_replaces_the_environment_default(keys, settings):
    settings.OPENAI_API_KEY = "sk-env-default"
    compatible("everything")
    assert names("gpt-4o-mini") == ["everything"]


def test_a_claimed_model_whose_provider_is_misconfigured_is_not_sent_to_the_default(
    settings, monkeypatch
):
    settings.OPENAI_API_KEY = "sk-env-default"
    monkeypatch.delenv("UNSET_KEY", raising=False)
    compatible("broken", models=["llama-*"], api_key_env="UNSET_KEY")
    assert names("llama-3") == []
    assert names("gpt-4o-mini") == ["openai"]


def test_without_rows_the_environment_setup_is_unchanged(settings):
    settings.OPENAI_API_KEY = "sk-env-default"
    (provider,) = default_providers()
    assert type(provider) is OpenAIProvider and provider.name == "openai"
    assert not mock_active()
    settings.OPENAI_API_KEY = ""
    (provider,) = default_providers()
    assert isinstance(provider, MockProvider) and mock_active()


def test_given_providers_are_used_as_before(fake_openai):
    manager = LLMManager([OpenAIProvider(api_key="k", base_url=fake_openai.base_url)])
    assert providers_for("any-model", manager.providers) == manager.providers


def test_rows_are_cached_and_a_save_invalidates_the_cache(keys, django_assert_num_queries):
    compatible("first")
    provider_configs()
    with django_assert_num_queries(0):
        provider_configs()
        routed_manager()
    compatible("second")  # post_save drops the cache in this process
    assert [c.name for c in provider_configs()] == ["first", "second"]
    Provider.objects.filter(name="first").delete()
    assert [c.name for c in provider_configs()] == ["second"]


def test_manager_built_inside_the_event_loop_never_queries_there(fake_openai, keys, settings):
    """Django raises SynchronousOnlyOperation if the ORM runs in the loop."""
    settings.OPENAI_API_KEY = ""
    fake_openai.expected_api_key = "value-of-KEY_A"
    compatible("compat", base_url=fake_openai.base_url)

    async def as_an_async_view_does():
        manager = routed_manager()  # cold cache: no rows yet, no query
        return await manager.generate_response(LLMRequest(prompt="hi", model="llama-3"))

    response = run(as_an_async_view_does)
    assert response.content.startswith("Fake answer")
    assert LLMCall.objects.get().provider == "compat"


def test_keyless_compatible_server_never_receives_the_openai_key(fake_openai, settings):
    settings.OPENAI_API_KEY = "sk-env-default-must-not-leak"
    compatible("ollama", base_url=fake_openai.base_url, api_key_env="", models=["llama*"])
    run(routed_manager().generate_response, LLMRequest(prompt="hi", model="llama3"))
    auth = fake_openai.chat_calls[0].headers.get("authorization", "")
    assert auth == f"Bearer {NO_KEY_PLACEHOLDER}"
    assert LLMCall.objects.get().provider_kind == "openai_compatible"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "azure_openai", "api_key_env": "K"}, "base_url"),
        ({"kind": "anthropic"}, "api_key_env"),
        ({"kind": "openai_compatible"}, "base_url"),
        ({"kind": "openai", "api_key_env": "sk-proj-abc123"}, "api_key_env"),
        ({"kind": "openai", "api_key_env": "K", "models": "gpt-*"}, "models"),
    ],
)
def test_invalid_rows_are_refused(fields, field):
    with pytest.raises(ValidationError) as raised:
        add_provider(name="bad", **fields)
    assert field in raised.value.message_dict


def test_the_mock_badge_shows_only_while_no_provider_is_configured(keys, settings, staff_client):
    """An admin-configured provider is real even with OPENAI_API_KEY unset: the
    layout must not call its answers mock ones."""
    settings.OPENAI_API_KEY = ""
    assert "● Mock provider" in staff_client.get("/").content.decode()
    compatible("team-proxy", models=["*"])
    assert "● Mock provider" not in staff_client.get("/").content.decode()
