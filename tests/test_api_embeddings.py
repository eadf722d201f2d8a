"""``POST /v1/embeddings`` through the gateway with the official SDK and LangChain."""

from __future__ import annotations

import base64
import struct
from decimal import Decimal

import langchain_openai
import openai
import pytest

from calls.models import LLMCall, Provider
from costs.models import Budget
from llm_gateway.routing import invalidate_provider_cache
from tests.providers_support import fresh_routing  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(live_gateway, key: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0, **kwargs)


def test_a_string_is_embedded_priced_per_input_token_and_recorded_once(
    live_gateway, upstream, prices, make_key
):
    raw = client_for(live_gateway, make_key()).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="the quick brown fox", encoding_format="float"
    )
    answer = raw.parse()
    assert len(answer.data) == 1 and len(answer.data[0].embedding) == 1536
    assert answer.usage.prompt_tokens == 4
    call = LLMCall.objects.get()
    assert (call.operation, call.status, call.prompt_tokens, call.completion_tokens) == (
        "embeddings",
        "success",
        4,
        0,
    )
    assert call.cost == Decimal("0.02") * 4 / 1_000_000
    assert raw.headers["x-gateway-cost-usd"] == str(call.cost)
    assert call.response_body["dimensions"] == 1536  # the vectors are not stored
    assert "data" not in call.response_body


def test_the_sdks_default_base64_vectors_arrive_decoded(live_gateway, upstream, prices, make_key):
    client = client_for(live_gateway, make_key())
    answer = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
    assert [len(d.embedding) for d in answer.data] == [1536, 1536]
    sent = upstream.operation_calls("embeddings")[-1].body
    assert sent["encoding_format"] == "base64"  # the SDK asked; the gateway relayed it
    assert abs(sum(v * v for v in answer.data[0].embedding) - 1) < 1e-4


def test_base64_is_relayed_as_the_provider_encoded_it(live_gateway, upstream, prices, make_key):
    import httpx

    response = httpx.post(
        live_gateway.base_url + "/embeddings",
        headers={"Authorization": f"Bearer {make_key()}"},
        json={"model": "text-embedding-3-large", "input": "x", "encoding_format": "base64"},
        timeout=10,
    )
    vector = base64.b64decode(response.json()["data"][0]["embedding"])
    assert len(struct.unpack(f"<{len(vector) // 4}f", vector)) == 3072


def test_token_arrays_and_dimensions_are_forwarded(live_gateway, upstream, prices, make_key):
    answer = client_for(live_gateway, make_key()).embeddings.create(
        model="text-embedding-3-small",
        input=[[1, 2, 3], [4, 5]],
        dimensions=256,
        encoding_format="float",
    )
    assert [len(d.embedding) for d in answer.data] == [256, 256]
    assert upstream.operation_calls("embeddings")[-1].body["dimensions"] == 256
    call = LLMCall.objects.get()
    assert call.prompt_tokens == 5
    assert call.request_body["input"] == "<5 tokens>"  # the log keeps the count, not the ints


def test_a_transient_failure_is_retried_and_counted(live_gateway, upstream, prices, make_key):
    upstream.fail_next(1, 500)
    client_for(live_gateway, make_key()).embeddings.create(
        model="text-embedding-3-small", input="retry me", encoding_format="float"
    )
    call = LLMCall.objects.get()
    assert (call.status, call.retries) == ("success", 1)


def test_a_provider_refusal_keeps_the_providers_error(live_gateway, upstream, prices, make_key):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(live_gateway, make_key()).embeddings.create(
            model="text-embedding-ada-002", input="x", dimensions=8
        )
    error = caught.value
    assert error.status_code == 400
    assert error.body["message"] == "This model does not support specifying dimensions."
    assert (error.body["param"], error.body["type"]) == ("dimensions", "invalid_request_error")
    assert not error.message.startswith("Error code: 400 - Error code")
    assert len(upstream.operation_calls("embeddings")) == 1  # a refusal is not retried


def test_failover_to_the_next_provider_serving_the_model(
    live_gateway, upstream, prices, make_key, monkeypatch, fake_openai
):
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as second:
        monkeypatch.setenv("SECOND_OPENAI_KEY", "sk-second")
        upstream.fail_always_with(503)
        for priority, (name, fake, env) in enumerate(
            [("first", upstream, "OPENAI_FIRST_KEY"), ("second", second, "SECOND_OPENAI_KEY")]
        ):
            monkeypatch.setenv(env, "sk-test")
            Provider.objects.create(
                name=name,
                kind="openai_compatible",
                base_url=fake.base_url,
                api_key_env=env,
                models=["text-embedding-*"],
                priority=priority,
            )
        invalidate_provider_cache()
        client_for(live_gateway, make_key()).embeddings.create(
            model="text-embedding-3-small", input="hello", encoding_format="float"
        )
    call = LLMCall.objects.get()
    assert (call.provider, call.fallback, call.status) == ("second", "provider", "success")


def test_identical_embeddings_are_answered_from_the_cache(live_gateway, upstream, prices, make_key):
    client = client_for(live_gateway, make_key())
    first = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="same text", encoding_format="float"
    )
    second = client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="same text", encoding_format="float"
    )
    assert (first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]) == ("miss", "hit")
    assert second.parse().data[0].embedding == first.parse().data[0].embedding
    assert len(upstream.operation_calls("embeddings")) == 1
    hit = LLMCall.objects.get(cache_hit=True)
    assert (hit.operation, hit.cost, hit.saved_cost > 0) == ("embeddings", 0, True)


def test_a_spent_block_budget_refuses_before_the_provider(live_gateway, upstream, prices, make_key):
    Budget.objects.create(
        name="tiny", scope="global", period="daily", amount=Decimal("0.0001"), action="block"
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client_for(live_gateway, make_key()).embeddings.create(
            model="text-embedding-3-large", input="word " * 2000, encoding_format="float"
        )
    assert caught.value.code == "budget_exceeded"
    assert upstream.operation_calls("embeddings") == []
    assert LLMCall.objects.get().status == "blocked"


def test_the_keys_token_limit_counts_embedding_tokens(live_gateway, upstream, prices, make_key):
    client = client_for(live_gateway, make_key(tpm_limit=5))
    client.embeddings.create(
        model="text-embedding-3-small", input="one two three four five six", encoding_format="float"
    )
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="text-embedding-3-small", input="again")


def test_bad_input_is_refused_in_openais_words(live_gateway, upstream, make_key):
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(live_gateway, make_key()).embeddings.create(
            model="text-embedding-3-small", input=[{"not": "text"}]
        )
    assert caught.value.body["param"] == "input"
    assert upstream.operation_calls("embeddings") == []


def test_azure_embeddings_go_to_the_deployment_and_price_as_the_model(
    live_gateway, fake_openai, prices, make_key, monkeypatch, settings
):
    settings.LLM_MOCK_FALLBACK = False
    monkeypatch.setenv("AZURE_TEST_KEY", "azure-secret")
    fake_openai.deployments = {"emb-prod": "text-embedding-3-small"}
    Provider.objects.create(
        name="azure",
        kind="azure_openai",
        base_url=fake_openai.url,
        api_version="2024-10-21",
        api_key_env="AZURE_TEST_KEY",
        deployments={"text-embedding-3-small": "emb-prod"},
        models=["text-embedding-*"],
    )
    invalidate_provider_cache()
    client_for(live_gateway, make_key()).embeddings.create(
        model="text-embedding-3-small", input="azure words", encoding_format="float"
    )
    sent = fake_openai.operation_calls("embeddings")[-1]
    assert sent.path == "/openai/deployments/emb-prod/embeddings"
    call = LLMCall.objects.get()
    assert (call.provider, call.model, call.priced) == ("azure", "text-embedding-3-small", True)


def test_langchain_openai_embeddings_work_through_the_gateway(
    live_gateway, upstream, prices, make_key
):
    embedder = langchain_openai.OpenAIEmbeddings(
        model="text-embedding-3-small",
        base_url=live_gateway.base_url,
        api_key=make_key(),
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    vectors = embedder.embed_documents(["alpha", "beta gamma"])
    assert [len(v) for v in vectors] == [1536, 1536]
    assert embedder.embed_query("alpha") == vectors[0]
    assert LLMCall.objects.filter(operation="embeddings").count() >= 2


@pytest.mark.parametrize("path", ["/embeddings", "/responses", "/completions", "/moderations"])
def test_a_body_nested_past_the_limit_is_a_400_on_every_operation(
    live_gateway, upstream, make_key, path
):
    import httpx

    raw = b'{"model": "gpt-4o-mini", "input": "x", "prompt": "x", "extra": '
    raw += b"[" * 50_000 + b"]" * 50_000 + b"}"
    response = httpx.post(
        live_gateway.base_url + path,
        headers={"Authorization": f"Bearer {make_key()}", "Content-Type": "application/json"},
        content=raw,
        timeout=10,
    )
    assert response.status_code == 400
    assert "nested deeper than 64" in response.json()["error"]["message"]
    assert upstream.calls == []
