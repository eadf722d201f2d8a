"""X-Agent-Name: a key acts as its own agent, or as a name its allowed_agent_names lists."""

from __future__ import annotations

import json

import pytest

from calls.models import GatewayKey, LLMCall

pytestmark = pytest.mark.django_db

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def post_chat(client, key: str, **headers: str):
    return client.post(
        "/v1/chat/completions",
        json.dumps(CHAT),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def test_a_key_acts_as_its_own_agent_with_or_without_the_header(client, make_key, upstream):
    raw = make_key("billing-agent")
    assert post_chat(client, raw).status_code == 200
    assert post_chat(client, raw, **{"X-Agent-Name": "billing-agent"}).status_code == 200
    assert post_chat(client, raw, **{"X-Agent-Name": "  "}).status_code == 200
    assert list(LLMCall.objects.values_list("agent_name", flat=True)) == ["billing-agent"] * 3


def test_a_key_may_not_act_as_an_agent_it_does_not_list(client, make_key, upstream):
    raw = make_key("billing-agent")
    response = post_chat(client, raw, **{"X-Agent-Name": "ceo-agent"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "agent_not_allowed" and error["type"] == "invalid_request_error"
    assert "ceo-agent" in error["message"]
    assert upstream.chat_calls == []  # refused before any provider was asked
    assert not LLMCall.objects.filter(agent_name="ceo-agent").exists()


def test_listed_names_and_patterns_are_honoured_and_nothing_else(client, make_key, upstream):
    raw = make_key("orchestrator", allowed_agent_names=["planner", "research-*"])
    assert post_chat(client, raw, **{"X-Agent-Name": "planner"}).status_code == 200
    assert post_chat(client, raw, **{"X-Agent-Name": "research-web"}).status_code == 200
    assert post_chat(client, raw, **{"X-Agent-Name": "planner-2"}).status_code == 403
    assert post_chat(client, raw, **{"X-Agent-Name": "Research-web"}).status_code == 403
    names = set(LLMCall.objects.values_list("agent_name", flat=True))
    assert names == {"planner", "research-web"}
    # The key's own agent stays with the call for budgets.
    assert LLMCall.objects.filter(gateway_key__agent_name="orchestrator").count() == 2


def test_a_refused_agent_name_does_not_count_against_the_rate_limit(client, make_key, upstream):
    raw = make_key("limited", rpm_limit=1)
    assert post_chat(client, raw, **{"X-Agent-Name": "someone"}).status_code == 403
    assert post_chat(client, raw).status_code == 200


def test_the_admin_edits_a_keys_allowed_agent_names(admin_client, make_key, upstream, client):
    raw = make_key("team-bot")
    key = GatewayKey.objects.get(agent_name="team-bot")
    page = admin_client.get(f"/admin/llm_gateway/gatewaykey/{key.pk}/change/").content.decode()
    assert 'name="allowed_agent_names"' in page
    response = admin_client.post(
        f"/admin/llm_gateway/gatewaykey/{key.pk}/change/",
        {
            "name": key.name,
            "agent_name": key.agent_name,
            "allowed_models": "[]",
            "allowed_agent_names": '["team-*", " "]',
            "cache_mode": "auto",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key.refresh_from_db()
    assert key.allowed_agent_names == ["team-*"]
    assert post_chat(client, raw, **{"X-Agent-Name": "team-alpha"}).status_code == 200
    refused = admin_client.post(
        f"/admin/llm_gateway/gatewaykey/{key.pk}/change/",
        {
            "name": key.name,
            "agent_name": key.agent_name,
            "allowed_models": "[]",
            "allowed_agent_names": '{"team": 1}',
        },
    )
    assert refused.status_code == 200 and "A JSON list of agent names" in refused.content.decode()
