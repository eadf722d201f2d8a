"""Keys live only in the environment: misconfigured providers are skipped and
said so, and no key value reaches the database, a log line or an admin page."""

from __future__ import annotations

import json
import logging

import pytest

from calls.models import LLMCall, Provider
from llm_gateway.health import provider_health
from llm_gateway.interface import LLMError, LLMRequest
from tests.providers_support import (
    add_provider,
    anthropic_row,
    fresh_routing,  # noqa: F401 - fixture
    routed_manager,
    run,
)

pytestmark = pytest.mark.django_db(transaction=False)

CANARY = "sk-ant-CANARY-3f9c2e7d1b"


def test_unset_key_variable_is_skipped_with_one_clear_warning(
    fake_anthropic, monkeypatch, caplog, settings
):
    settings.OPENAI_API_KEY = ""
    monkeypatch.delenv("MISSING_ANTHROPIC_KEY", raising=False)
    anthropic_row(fake_anthropic, name="claude-prod", env="MISSING_ANTHROPIC_KEY")

    with caplog.at_level(logging.WARNING, logger="llm_gateway.routing"):
        for _ in range(3):
            response = run(
                routed_manager(mock_fallback=True).generate_response,
                LLMRequest(prompt="hi", model="claude-haiku-4-5"),
            )
    assert response.metadata["fallback"] == "mock"
    assert fake_anthropic.calls == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "llm_gateway.routing"]
    assert warnings == [
        "provider claude-prod is misconfigured and skipped: "
        "environment variable MISSING_ANTHROPIC_KEY is not set"
    ]
    (entry,) = [e for e in provider_health(check=False) if e["name"] == "claude-prod"]
    assert entry["configured"] is False
    assert entry["misconfigured"] == "environment variable MISSING_ANTHROPIC_KEY is not set"
    assert entry["api_key_env"] == "MISSING_ANTHROPIC_KEY"


def test_no_key_value_reaches_the_database_the_logs_or_the_admin(
    fake_anthropic, monkeypatch, caplog, staff_client, django_user_model, prices
):
    monkeypatch.setenv("CANARY_KEY", CANARY)
    fake_anthropic.expected_api_key = CANARY
    row = anthropic_row(fake_anthropic, name="claude-canary", env="CANARY_KEY")
    request = LLMRequest(
        messages=[{"role": "user", "content": "hi"}], model="claude-haiku-4-5", max_tokens=50
    )

    with caplog.at_level(logging.DEBUG):
        run(routed_manager().generate_response, request)  # success
        # an auth failure, an outage (the attempt and its retry), a bad request
        for status, times in ((401, 1), (529, 2), (400, 1)):
            fake_anthropic.fail_next(times, status)
            with pytest.raises(LLMError):
                run(routed_manager().generate_response, request)

        async def stream():
            return [c async for c in routed_manager().stream_response(request)]

        run(stream)
        health = provider_health()
        django_user_model.objects.filter(pk=staff_client.session["_auth_user_id"]).update(
            is_superuser=True
        )
        pages = [
            staff_client.get(f"/admin/llm_gateway/provider/{row.pk}/change/"),
            staff_client.get("/admin/llm_gateway/provider/"),
        ]

    assert LLMCall.objects.count() == 5
    rows = json.dumps(list(LLMCall.objects.values()), default=str)
    providers = json.dumps(list(Provider.objects.values()), default=str)
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records)
    for page in pages:
        assert page.status_code == 200
        html = page.content.decode()
        assert "CANARY_KEY" in html and "set" in html
        assert CANARY not in html
    assert CANARY not in rows
    assert CANARY not in providers
    assert CANARY not in logged
    assert CANARY not in json.dumps(health, default=str)
    assert health[0]["check"]["status"] == "ok"


def test_a_pasted_key_is_refused_and_not_echoed_back(staff_client, django_user_model):
    django_user_model.objects.filter(pk=staff_client.session["_auth_user_id"]).update(
        is_superuser=True
    )
    response = staff_client.post(
        "/admin/llm_gateway/provider/add/",
        {
            "name": "oops",
            "kind": "anthropic",
            "enabled": "on",
            "priority": "10",
            "models": "[]",
            "deployments": "{}",
            "api_key_env": CANARY,
        },
    )
    assert response.status_code == 200  # the form again, with an error
    assert not Provider.objects.exists()
    assert CANARY not in response.content.decode()


def test_admin_shows_whether_the_variable_is_set(monkeypatch, staff_client, django_user_model):
    django_user_model.objects.filter(pk=staff_client.session["_auth_user_id"]).update(
        is_superuser=True
    )
    monkeypatch.delenv("NOT_THERE_KEY", raising=False)
    add_provider(name="p", kind="openai", api_key_env="NOT_THERE_KEY")
    html = staff_client.get("/admin/llm_gateway/provider/").content.decode()
    assert "NOT_THERE_KEY" in html and "NOT SET" in html
