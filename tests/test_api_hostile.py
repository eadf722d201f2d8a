"""Malformed and hostile requests: each gets a 4xx OpenAI-shaped error and no provider call."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from django.core.management import call_command

from calls.models import GatewayKey, LLMCall

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
HUGE = "x" * (1024 * 1024 + 10)
DEEP = b"[" * 100_000 + b"]" * 100_000  # past any parser's recursion


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def body(**changes) -> bytes:
    data = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


# (name, raw body, auth ("good", "none", or a literal header), expected status, expected param)
CASES = [
    ("not json", b"{not json", "good", 400, None),
    ("json array", b"[1, 2]", "good", 400, None),
    ("empty body", b"", "good", 400, None),
    ("invalid utf-8", b"\xff\xfe\xfa", "good", 400, None),
    ("missing messages", body(messages=...), "good", 400, "messages"),
    ("empty messages", body(messages=[]), "good", 400, "messages"),
    ("messages not a list", body(messages="hello"), "good", 400, "messages"),
    ("message not an object", body(messages=["hi"]), "good", 400, "messages[0]"),
    (
        "bad role",
        body(messages=[{"role": "root", "content": "x"}]),
        "good",
        400,
        "messages[0].role",
    ),
    (
        "content wrong type",
        body(messages=[{"role": "user", "content": 5}]),
        "good",
        400,
        "messages[0].content",
    ),
    ("missing model", body(model=...), "good", 400, "model"),
    ("model not a string", body(model=["gpt-4o"]), "good", 400, "model"),
    ("model too long", body(model="m" * 500), "good", 400, "model"),
    ("negative max_tokens", body(max_tokens=-5), "good", 400, "max_tokens"),
    ("string max_tokens", body(max_tokens="100"), "good", 400, "max_tokens"),
    ("boolean max_tokens", body(max_tokens=True), "good", 400, "max_tokens"),
    ("temperature out of range", body(temperature=9), "good", 400, "temperature"),
    ("temperature as string", body(temperature="hot"), "good", 400, "temperature"),
    ("stream not boolean", body(stream="yes"), "good", 400, "stream"),
    # Unknown fields are forwarded now (tests/test_api_passthrough.py); these are not:
    ("n beyond OpenAI's bound", body(n=31538970319), "good", 400, "n"),
    (
        "max_tokens with max_completion_tokens",
        body(max_tokens=10, max_completion_tokens=20),
        "good",
        400,
        "max_tokens",
    ),
    ("deeply nested", body()[:-1] + b', "metadata": ' + DEEP + b"}", "good", 400, None),
    ("nested past the limit", body(tools=nested(65)), "good", 400, None),
    (
        "html in role",
        body(messages=[{"role": "<script>alert(1)</script>", "content": "x"}]),
        "good",
        400,
        "messages[0].role",
    ),
    ("tools not a list", body(tools={"a": 1}), "good", 400, "tools"),
    ("huge body", body(messages=[{"role": "user", "content": HUGE}]), "good", 413, None),
    ("missing auth", body(), "none", 401, None),
    ("wrong scheme", body(), "Basic dXNlcjpwYXNz", 401, None),
    ("unknown key", body(), "Bearer gw_deadbeef_" + "A" * 40, 401, None),
    ("malformed key", body(), "Bearer sk-not-a-gateway-key", 401, None),
    ("sql in key", body(), "Bearer gw_' OR 1=1 --_" + "B" * 30, 401, None),
]


@pytest.fixture
def gateway_key(make_key):
    return make_key("hostile-test")


@pytest.mark.parametrize(
    ("name", "raw", "auth", "status", "param"), CASES, ids=[c[0] for c in CASES]
)
def test_hostile_request_gets_an_openai_error(
    live_gateway, upstream, gateway_key, caplog, name, raw, auth, status, param
):
    caplog.set_level(logging.DEBUG)
    headers = {"Content-Type": "application/json"}
    if auth == "good":
        headers["Authorization"] = f"Bearer {gateway_key}"
    elif auth != "none":
        headers["Authorization"] = auth
    response = httpx.post(
        live_gateway.base_url + "/chat/completions", content=raw, headers=headers, timeout=10
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["param"] == param
    text = response.text
    assert "Traceback" not in text and "<html" not in text.lower()
    assert gateway_key not in text and "sk-upstream-secret" not in text
    assert upstream.chat_calls == []
    assert LLMCall.objects.count() == 0
    assert gateway_key not in caplog.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/chat/completions", 405),
        ("GET", "/v1/completions", 405),
        ("GET", "/v1/embeddings", 405),
        ("POST", "/v1/images/generations", 404),
        ("DELETE", "/api/v1/anything", 404),
    ],
)
def test_unknown_routes_and_methods_answer_openai_json(
    live_gateway, make_key, method, path, status
):
    response = httpx.request(
        method, live_gateway.url + path, headers={"Authorization": f"Bearer {make_key()}"}
    )
    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_no_key_reaches_logs_rows_or_responses(live_gateway, upstream, make_key, caplog, prices):
    caplog.set_level(logging.DEBUG)
    key = make_key("leak-check")
    provider_key = "sk-upstream-secret-0123456789abcdef"
    upstream.fail_next(1, 401)  # the provider rejects our key once
    client = httpx.Client(
        base_url=live_gateway.base_url, headers={"Authorization": f"Bearer {key}"}
    )
    responses = [
        client.post("/chat/completions", json=GOOD),
        client.post(
            "/chat/completions",
            json={
                **GOOD,
                "messages": [{"role": "user", "content": f"my keys are {key} and {provider_key}"}],
            },
        ),
        client.post("/chat/completions", json={**GOOD, "stream": True}),
        client.get("/models"),
    ]
    assert responses[0].status_code == 502
    rows = [json.dumps(row, default=str) for row in LLMCall.objects.values()]
    rows += [json.dumps(row, default=str) for row in GatewayKey.objects.values()]
    # responses[1] is the model echoing the agent's own prompt back to it: not a leak.
    for secret in (key, provider_key):
        assert all(secret not in r.text for i, r in enumerate(responses) if i != 1)
        assert all(secret not in row for row in rows)
        assert secret not in caplog.text


def test_create_gateway_key_prints_the_key_once_and_stores_only_a_hash(capsys):
    call_command("create_gateway_key", agent="Ops Agent", rpm=60, tpm=10000)
    out = capsys.readouterr().out
    raw = out.strip().splitlines()[-1]
    key = GatewayKey.objects.get()
    assert raw.startswith(key.prefix + "_")
    assert (key.agent_name, key.rpm_limit, key.tpm_limit) == ("Ops Agent", 60, 10000)
    assert raw not in json.dumps(list(GatewayKey.objects.values()), default=str)


def test_admin_creates_a_key_and_shows_it_once(admin_client):
    response = admin_client.post(
        "/admin/llm_gateway/gatewaykey/add/",
        {"name": "Billing", "agent_name": "Billing Agent", "allowed_models": "[]"},
    )
    assert response.status_code == 200
    key = GatewayKey.objects.get()
    page = response.content.decode()
    start = page.index(key.prefix + "_")
    raw = page[start : page.index("<", start)]
    assert len(raw) > 40
    assert (
        raw
        not in admin_client.get(f"/admin/llm_gateway/gatewaykey/{key.pk}/change/").content.decode()
    )
    assert "no-store" in response["Cache-Control"]
