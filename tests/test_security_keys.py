"""Keys and secrets: hashed gateway keys, redacted bodies, and no route around limits or budgets."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
from decimal import Decimal

import pytest

from calls.models import GatewayKey, LLMCall

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def post_chat(client, key: str, body: dict | None = None, **headers: str):
    return client.post(
        "/v1/chat/completions",
        json.dumps(body or CHAT),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}", **headers},
    )


# --- gateway keys -------------------------------------------------------------------------


def test_only_a_keyed_hash_of_the_key_is_stored(make_key, settings):
    raw = make_key("hash-agent")
    row = GatewayKey.objects.get(agent_name="hash-agent")
    pepper = (settings.GATEWAY_KEY_PEPPER or settings.SECRET_KEY).encode()
    assert row.key_hash == hmac.new(pepper, raw.encode(), hashlib.sha256).hexdigest()
    assert raw not in json.dumps(list(GatewayKey.objects.values()), default=str)
    assert row.prefix and raw.startswith(row.prefix + "_")


def test_keys_are_compared_in_constant_time():
    from llm_gateway import keys

    assert "hmac.compare_digest" in inspect.getsource(keys.gateway_key_authenticate)


def test_a_key_with_the_right_prefix_and_a_wrong_secret_is_refused(client, make_key, upstream):
    raw = make_key("guess-agent")
    forged = raw[:-4] + ("AAAA" if not raw.endswith("AAAA") else "BBBB")
    assert post_chat(client, forged).status_code == 401
    assert post_chat(client, raw).status_code == 200


def test_rotating_the_pepper_invalidates_every_key(client, make_key, upstream, settings):
    raw = make_key("pepper-agent")
    settings.GATEWAY_KEY_PEPPER = "a-new-pepper-from-the-environment-0123456789abcdef"
    from llm_gateway.keys import key_cache

    key_cache.clear()
    response = post_chat(client, raw)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


# --- redaction before storage --------------------------------------------------------------

SECRETS = {
    "openai key": "sk-proj-" + "Ab3" * 12,
    "gateway key": "gw_ab12cd34_" + "Zq9" * 10,
    "bearer token": "Bearer " + "tok3n" * 6,
    "private key": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
    ),
    "card number": "4111 1111 1111 1111",
}


@pytest.mark.parametrize("kind", list(SECRETS))
def test_secrets_in_prompts_and_answers_are_redacted_before_storage(
    client, make_key, upstream, kind
):
    secret = SECRETS[kind]
    body = {**CHAT, "messages": [{"role": "user", "content": f"please keep {secret} safe"}]}
    response = post_chat(client, make_key("redact-agent"), body)
    assert response.status_code == 200
    assert secret.split("\n")[0] in response.content.decode()  # the fake echoes the prompt
    row = LLMCall.objects.get()
    stored = json.dumps([row.request_body, row.response_body, row.metadata, row.error_message])
    assert secret.split("\n")[0] not in stored
    assert "MIIEowIBAAKCAQEA7" not in stored
    assert "[REDACTED]" in json.dumps(row.request_body)
    assert "[REDACTED]" in json.dumps(row.response_body)


# --- rate limits cannot be bypassed --------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"stream": True},
        {"X-Agent-Name": "someone-else"},
        {"scheme": "bearer"},
        {"scheme": "BEARER  "},
    ],
    ids=["plain", "stream", "other agent name", "lower-case scheme", "padded scheme"],
)
def test_a_keys_rpm_holds_whatever_the_request_looks_like(client, make_key, upstream, variant):
    raw = make_key("limited-agent", rpm_limit=2, allowed_agent_names=["someone-else"])
    variant = dict(variant)
    scheme = variant.pop("scheme", "Bearer")
    body = {**CHAT, "stream": bool(variant.pop("stream", False))}
    statuses = []
    for _ in range(3):
        response = client.post(
            "/v1/chat/completions",
            json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"{scheme} {raw}", **variant},
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429]
    assert len(upstream.chat_calls) == 2


def test_a_second_key_for_the_same_agent_has_its_own_limit(client, make_key, upstream):
    first = make_key("twin-agent", rpm_limit=1)
    second = make_key("twin-agent", rpm_limit=1, name="twin-2")
    assert post_chat(client, first).status_code == 200
    assert post_chat(client, first).status_code == 429
    assert post_chat(client, second).status_code == 200


# --- budgets cannot be bypassed -------------------------------------------------------------


@pytest.fixture
def spent_budget(prices):
    """A global blocking budget that is already spent."""
    from costs.budgets import budget_create

    budget = budget_create(name="spent", amount="0.01", action="block")
    LLMCall.objects.create(agent_name="earlier", model="gpt-4o-mini", cost=Decimal("0.02"))
    from costs.budgets import budgets_evaluate

    budgets_evaluate()
    return budget


def _assert_budget_refusal(response) -> None:
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert response["x-should-retry"] == "false"


def test_a_spent_budget_blocks_plain_calls(client, make_key, upstream, spent_budget):
    _assert_budget_refusal(post_chat(client, make_key("b-agent")))
    assert upstream.chat_calls == []


def test_a_spent_budget_blocks_streams(client, make_key, upstream, spent_budget):
    _assert_budget_refusal(post_chat(client, make_key("b-agent"), {**CHAT, "stream": True}))
    assert upstream.chat_calls == []


def test_a_spent_budget_blocks_the_python_api(upstream, spent_budget):
    from llm_gateway.interface import LLMBudgetExceededError, LLMRequest
    from llm_gateway.manager import LLMManager

    with pytest.raises(LLMBudgetExceededError):
        asyncio.run(LLMManager().generate_response(LLMRequest(prompt="hi"), agent_name="py"))

    async def stream() -> None:
        async for _ in LLMManager().stream_response(LLMRequest(prompt="hi"), agent_name="py"):
            pass

    with pytest.raises(LLMBudgetExceededError):
        asyncio.run(stream())
    assert upstream.chat_calls == []


def test_a_key_a_superuser_made_in_the_admin_is_blocked_too(
    client, django_user_model, upstream, spent_budget
):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456789")
    client.force_login(admin)
    created = client.post(
        "/admin/llm_gateway/gatewaykey/add/", {"name": "root key", "agent_name": "root-agent"}
    )
    assert created.status_code == 200
    raw = next(
        word
        for word in created.content.decode().replace("<", " ").replace(">", " ").split()
        if word.startswith("gw_")
    )
    client.logout()
    _assert_budget_refusal(post_chat(client, raw))


def test_an_agent_budget_cannot_be_escaped_by_naming_another_agent(client, make_key, upstream):
    from costs.budgets import budget_create, budgets_evaluate

    budget_create(
        name="agent cap", amount="0.01", scope="agent", scope_value="capped", action="block"
    )
    LLMCall.objects.create(agent_name="capped", model="gpt-4o-mini", cost=Decimal("0.02"))
    budgets_evaluate()
    raw = make_key("capped", allowed_agent_names=["not-capped"])
    _assert_budget_refusal(post_chat(client, raw, **{"X-Agent-Name": "capped"}))
    _assert_budget_refusal(post_chat(client, raw, **{"X-Agent-Name": "not-capped"}))
    assert upstream.chat_calls == []


def test_a_nul_character_in_a_prompt_is_stored_not_lost(client, make_key, upstream):
    """PostgreSQL rejects NUL in text and jsonb; the call must still be recorded."""
    body = {**CHAT, "messages": [{"role": "user", "content": "a\x00b", "x\x00": 1}]}
    assert post_chat(client, make_key("nul-agent"), body).status_code == 200
    row = LLMCall.objects.get()
    assert "\x00" not in json.dumps(row.request_body)
    assert "a\ufffdb" in json.dumps(row.request_body, ensure_ascii=False)


def test_a_model_name_with_a_nul_character_is_refused(client, make_key, upstream):
    response = post_chat(client, make_key("nul-agent"), {**CHAT, "model": "gpt\x00"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "model"


def test_a_lone_surrogate_in_a_prompt_is_replaced_and_the_call_recorded(client, make_key, upstream):
    """JSON may escape half a surrogate pair ("\\ud800"); UTF-8 cannot carry it
    upstream, nor PostgreSQL store it: it is sent and stored as U+FFFD."""
    body = {**CHAT, "messages": [{"role": "user", "content": "a\ud800b", "k\udfff": 1}]}
    assert post_chat(client, make_key("surrogate-agent"), body).status_code == 200
    sent = json.dumps(upstream.chat_calls[0].body, ensure_ascii=False)
    assert "a\ufffdb" in sent and "\\ud800" not in json.dumps(upstream.chat_calls[0].body)
    row = LLMCall.objects.get()
    assert "a\ufffdb" in json.dumps(row.request_body, ensure_ascii=False)
    paired = {**CHAT, "messages": [{"role": "user", "content": "a\U0001f600b"}]}  # an emoji
    assert post_chat(client, make_key("surrogate-agent"), paired).status_code == 200
    assert "\U0001f600" in json.dumps(upstream.chat_calls[1].body, ensure_ascii=False)


def test_a_lone_surrogate_in_an_answer_is_stored_not_lost(client, make_key, upstream):
    """A provider's answer with a lone surrogate escape reached the agent but made
    the paid call's record unwritable on PostgreSQL (and wedged the batch writer)."""
    upstream.reply = "half \udfff a pair"
    assert post_chat(client, make_key("surrogate-agent"), CHAT).status_code == 200
    row = LLMCall.objects.get()
    assert "half \ufffd a pair" in json.dumps(row.response_body, ensure_ascii=False)


def test_a_model_name_with_a_lone_surrogate_reaches_no_one_unstorable(client, make_key, upstream):
    response = post_chat(client, make_key("surrogate-agent"), {**CHAT, "model": "gpt\ud800"})
    assert response.status_code in (200, 404)
    assert upstream.chat_calls[0].body["model"] == "gpt\ufffd"
    assert LLMCall.objects.get().requested_model == "gpt\ufffd"
