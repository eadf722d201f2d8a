"""provider_health(): configuration, circuit, recent calls and a free live check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import LLMCall
from llm_gateway.circuit import breaker
from llm_gateway.health import provider_health
from tests.providers_support import (
    add_provider,
    anthropic_row,
    fresh_routing,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.django_db(transaction=False)


def calls(provider: str, latencies: list[float], *, errors: int = 0, age_minutes: int = 1):
    at = timezone.now() - timedelta(minutes=age_minutes)
    rows = [LLMCall(provider=provider, latency_ms=ms, created_at=at) for ms in latencies]
    rows += [
        LLMCall(provider=provider, status="error", latency_ms=60_000, created_at=at)
        for _ in range(errors)
    ]
    LLMCall.objects.bulk_create(rows)


@pytest.fixture
def two_providers(fake_anthropic, fake_openai, monkeypatch, settings):
    settings.OPENAI_API_KEY = ""
    monkeypatch.setenv("H_ANTHROPIC", "a-key")
    monkeypatch.setenv("H_AZURE", "z-key")
    anthropic_row(fake_anthropic, name="claude", env="H_ANTHROPIC", priority=5)
    add_provider(
        name="azure",
        kind="azure_openai",
        base_url=fake_openai.url,
        api_version="2024-10-21",
        api_key_env="H_AZURE",
        models=["gpt-*"],
        priority=10,
    )
    return fake_anthropic, fake_openai


def test_health_reports_config_circuit_recent_calls_and_a_free_check(two_providers):
    fake_anthropic, fake_openai = two_providers
    calls("claude", [100, 200, 300, 400], errors=1)
    calls("claude", [9999], age_minutes=30)  # outside the 15-minute window
    breaker.record_failure("azure")

    by_name = {e["name"]: e for e in provider_health()}

    claude = by_name["claude"]
    assert (claude["kind"], claude["enabled"], claude["configured"]) == ("anthropic", True, True)
    assert claude["misconfigured"] == "" and claude["api_key_env"] == "H_ANTHROPIC"
    assert (claude["calls"], claude["errors"], claude["error_rate"]) == (5, 1, 0.2)
    assert claude["p50_latency_ms"] == 250  # successful calls only
    assert claude["check"]["status"] == "ok" and claude["circuit"] == "closed"
    azure = by_name["azure"]
    assert (azure["calls"], azure["error_rate"], azure["p50_latency_ms"]) == (0, None, None)
    assert azure["check"]["status"] == "ok"
    # The checks listed models and never asked for a completion.
    assert [c.path for c in fake_anthropic.calls] == ["/v1/models"]
    assert [c.path for c in fake_openai.calls] == ["/openai/models"]
    assert by_name["mock"]["source"] == "environment"


def test_live_checks_are_cached_between_page_refreshes(two_providers):
    fake_anthropic, _ = two_providers
    provider_health()
    provider_health()
    assert len(fake_anthropic.calls) == 1


def test_disabled_and_misconfigured_providers_are_shown_but_not_checked(
    fake_anthropic, monkeypatch
):
    monkeypatch.delenv("GONE_KEY", raising=False)
    monkeypatch.setenv("H_KEY", "x")
    anthropic_row(fake_anthropic, name="off", env="H_KEY", enabled=False)
    anthropic_row(fake_anthropic, name="broken", env="GONE_KEY")

    by_name = {e["name"]: e for e in provider_health()}
    assert by_name["off"]["check"] == {"status": "skipped", "reason": "disabled"}
    assert by_name["broken"]["configured"] is False
    assert by_name["broken"]["check"]["reason"] == "environment variable GONE_KEY is not set"
    assert fake_anthropic.calls == []


def test_an_unreachable_provider_fails_its_check(fake_anthropic, monkeypatch):
    monkeypatch.setenv("H_KEY", "x")
    fake_anthropic.stop()  # nothing listens on its port any more
    anthropic_row(fake_anthropic, name="down", env="H_KEY")
    (down,) = [e for e in provider_health() if e["name"] == "down"]
    assert down["check"]["status"] == "failed"
    assert down["check"]["error"] == "provider_error"
