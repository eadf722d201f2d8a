"""Chat pass-through, provider error shapes, the mock's limits and the model endpoints."""

from __future__ import annotations

import httpx
import openai
import pytest

from calls.models import LLMCall
from llm_gateway.api.usage import model_list_forget

pytestmark = pytest.mark.django_db(transaction=True)

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(autouse=True)
def _fresh_model_list():
    model_list_forget()
    yield
    model_list_forget()


def client_for(live_gateway, key: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0, **kwargs)


def test_new_sdk_fields_and_vendor_extra_body_reach_the_provider(live_gateway, upstream, make_key):
    client_for(live_gateway, make_key()).chat.completions.create(
        model="gpt-4o-mini",
        messages=HI,
        prompt_cache_retention="24h",
        extra_body={"vendor_option": {"beam": 3}, "top_k": 5},
    )
    sent = upstream.chat_calls[-1].body
    assert sent["prompt_cache_retention"] == "24h"
    assert (sent["vendor_option"], sent["top_k"]) == ({"beam": 3}, 5)


def test_an_odd_unknown_field_name_is_forwarded_and_stored_as_data(
    live_gateway, upstream, make_key
):
    name = "model'; DROP TABLE llm_gateway_llmcall;--"
    response = httpx.post(
        live_gateway.base_url + "/chat/completions",
        headers={"Authorization": f"Bearer {make_key()}"},
        json={"model": "gpt-4o-mini", "messages": HI, name: 1},
        timeout=10,
    )
    assert response.status_code == 200
    assert upstream.chat_calls[-1].body[name] == 1
    assert LLMCall.objects.get().request_body[name] == 1


def test_a_provider_refusal_comes_back_as_the_provider_wrote_it(live_gateway, upstream, make_key):
    message = "Invalid 'tools[0].function.name': string does not match pattern."
    upstream.fail_next(
        1, 400, message=message, param="tools[0].function.name", code="invalid_value"
    )
    with pytest.raises(openai.BadRequestError) as caught:
        client_for(live_gateway, make_key()).chat.completions.create(
            model="gpt-4o-mini", messages=HI
        )
    assert caught.value.body == {
        "message": message,
        "type": "invalid_request_error",
        "param": "tools[0].function.name",
        "code": "invalid_value",
    }
    assert len(upstream.chat_calls) == 1  # not retried
    call = LLMCall.objects.get()
    assert (call.status, call.http_status) == ("error", 400)


def test_a_provider_422_keeps_its_status(live_gateway, upstream, make_key):
    upstream.fail_next(1, 422, message="Unprocessable.", code="unprocessable")
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client_for(live_gateway, make_key()).chat.completions.create(
            model="gpt-4o-mini", messages=HI
        )
    assert (caught.value.status_code, caught.value.code) == (422, "unprocessable")


def test_with_a_key_and_no_setting_an_outage_is_an_error_not_a_mock_answer(
    live_gateway, upstream, make_key, settings
):
    settings.LLM_MOCK_FALLBACK = None  # the variable is not set
    settings.LLM_MAX_RETRIES = 0
    upstream.fail_always_with(500)
    with pytest.raises(openai.InternalServerError) as caught:
        client_for(live_gateway, make_key()).chat.completions.create(
            model="gpt-4o-mini", messages=HI
        )
    assert caught.value.status_code == 502
    call = LLMCall.objects.get()
    assert (call.status, call.http_status, call.provider, call.fallback) == (
        "error",
        502,
        "openai",
        "",
    )


def test_without_a_key_the_demo_mock_answers(live_gateway, make_key, settings):
    settings.OPENAI_API_KEY = ""
    settings.LLM_MOCK_FALLBACK = None
    answer = client_for(live_gateway, make_key()).chat.completions.create(
        model="gpt-4o-mini", messages=HI
    )
    assert answer.choices[0].message.content.startswith("[mock answer]")


def test_the_mock_refuses_a_model_no_provider_has(live_gateway, make_key, settings):
    settings.OPENAI_API_KEY = ""
    with pytest.raises(openai.NotFoundError) as caught:
        client_for(live_gateway, make_key()).chat.completions.create(
            model="made-up-model", messages=HI
        )
    assert caught.value.code == "model_not_found"


def test_models_list_only_what_a_route_serves_and_each_can_be_read(
    live_gateway, upstream, prices, make_key
):
    client = client_for(live_gateway, make_key())
    ids = {model.id for model in client.models.list()}
    assert {"gpt-4o-mini", "text-embedding-3-small"} <= ids
    assert not any(name.startswith("claude") for name in ids)  # no Anthropic provider
    assert client.models.retrieve("text-embedding-3-small").id == "text-embedding-3-small"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("claude-sonnet-4")
    assert caught.value.code == "model_not_found"


def test_the_python_api_with_a_real_provider_does_not_fall_back_to_the_mock(fake_openai, settings):
    from asgiref.sync import async_to_sync

    from llm_gateway.interface import LLMProviderError, LLMRequest
    from llm_gateway.manager import LLMManager
    from llm_gateway.providers.openai_provider import OpenAIProvider

    settings.OPENAI_API_KEY = ""  # the environment has no key: the provider given has one
    settings.LLM_MOCK_FALLBACK = None
    fake_openai.fail_always_with(500)
    provider = OpenAIProvider(api_key="sk-given", base_url=fake_openai.base_url)
    manager = LLMManager([provider], fallback_models=[], max_retries=0)
    with pytest.raises(LLMProviderError):
        async_to_sync(manager.generate_response)(LLMRequest(prompt="hi"))
    assert LLMCall.objects.get().provider == "openai"
