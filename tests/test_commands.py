"""Management commands: the seed's demo and the synthetic history."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from calls.models import LLMCall

pytestmark = pytest.mark.django_db


def test_demo_runs_through_a_real_openai_endpoint(fake_openai, prices, settings, capsys):
    settings.OPENAI_API_KEY = "sk-test-demo"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    call_command("demo")
    out = capsys.readouterr().out
    assert "openai/gpt-4o-mini" in out
    assert LLMCall.objects.filter(provider="openai", status="success").count() == 3
    assert all(call.cost > 0 for call in LLMCall.objects.all())
    assert "sk-test-demo" not in out


def test_demo_without_a_key_uses_the_mock(settings, capsys):
    settings.OPENAI_API_KEY = ""
    call_command("demo")
    out = capsys.readouterr().out
    assert "mock provider" in out
    assert LLMCall.objects.filter(provider="mock").count() == 3


def test_seed_demo_data_prices_calls_from_the_table_and_respects_if_empty(prices):
    call_command("seed_demo_data", calls=500, days=7)
    assert LLMCall.objects.count() == 500
    # Cache hits cost nothing: the provider was not asked (their price is saved_cost).
    ok = LLMCall.objects.filter(status="success", cache_hit=False).exclude(prompt_tokens=0)
    assert ok.filter(cost__gt=0).count() == ok.count()
    call_command("seed_demo_data", calls=500, if_empty=True)
    assert LLMCall.objects.count() == 500
