"""Every validated call keeps its result, exactly once: inline and async over HTTP with the
server's batched record writer, and the Python API, which writes before it returns.

Run on PostgreSQL too (DATABASE_URL=postgres://…): the batch writer COPYs the calls there
and the results must follow them in the same transaction.
"""

from __future__ import annotations

import time

import openai
import pytest
from asgiref.sync import async_to_sync

from calls.models import LLMCall
from calls.services import calls_record_batch
from llm_gateway.interface import LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.providers.openai_provider import OpenAIProvider
from tests.test_recorder import a_record
from validation.models import ValidationResult
from validation.policy import validation_policy_cache_clear

pytestmark = pytest.mark.django_db(transaction=True)

PROFANE = "Honestly the old expenses tool was a shitshow, so use the new portal from now on."


@pytest.fixture(autouse=True)
def _fresh_policies():
    validation_policy_cache_clear()
    yield
    validation_policy_cache_clear()


def client_for(live_gateway, key: str, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=live_gateway.base_url, api_key=key, max_retries=0, **kwargs)


def result_of(call_id: str, timeout: float = 10.0) -> ValidationResult:
    """The call's result once the call and its result are written (both may lag the answer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ValidationResult.objects.filter(call_id=call_id).first()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no validation result for call {call_id}")


def ask(client, content: str = "How do I submit expenses?", **kwargs):
    return client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}], **kwargs
    )


@pytest.mark.background_records
def test_inline_results_are_stored_once_by_the_batched_writer(live_gateway, upstream, make_key):
    client = client_for(live_gateway, make_key("inline-agent"),
                        default_headers={"x-gateway-validate": "inline"})  # fmt: skip
    good = ask(client)
    upstream.reply = PROFANE
    bad = ask(client)
    for raw in (good, bad):
        call_id = raw.headers["x-gateway-request-id"]
        result = result_of(call_id)
        assert result.quality_score == float(raw.headers["x-gateway-validation"])
        assert ValidationResult.objects.filter(call_id=call_id).count() == 1
        assert LLMCall.objects.filter(id=call_id).count() == 1
    assert result_of(good.headers["x-gateway-request-id"]).is_valid is True
    failed = result_of(bad.headers["x-gateway-request-id"])
    assert (failed.is_valid, failed.failed_families, failed.agent_name) == (
        False, ["safety"], "inline-agent"
    )  # fmt: skip
    assert failed.policy == "built-in defaults"


@pytest.mark.background_records
def test_inline_validation_is_told_the_finish_reason_and_the_request(
    live_gateway, upstream, make_key
):
    client = client_for(live_gateway, make_key(), default_headers={"x-gateway-validate": "inline"})
    raw = ask(client, "Explain our expense policy in detail.", max_tokens=3)
    checks = {c["name"]: c for c in result_of(raw.headers["x-gateway-request-id"]).checks}
    # The fake cut the answer at the caller's own max_tokens: a warning, not an error.
    assert (checks["not_truncated"]["passed"], checks["not_truncated"]["severity"]) == (
        False, "warning"
    )  # fmt: skip
    assert "max_tokens=3" in checks["not_truncated"]["message"]


@pytest.mark.background_records
def test_async_results_are_stored_once_after_the_batched_record(live_gateway, upstream, make_key):
    upstream.reply = PROFANE
    client = client_for(live_gateway, make_key("async-agent", validate_responses=True))
    raw = ask(client, max_tokens=200)
    assert "x-gateway-validation" not in raw.headers
    call_id = raw.headers["x-gateway-request-id"]
    result = result_of(call_id)
    time.sleep(0.3)  # a second writer, if there were one, would have written by now
    assert ValidationResult.objects.filter(call_id=call_id).count() == 1
    assert (result.is_valid, result.agent_name) == (False, "async-agent")
    assert {c["name"] for c in result.checks if not c["passed"]} == {"no_profanity"}


def test_python_api_results_are_stored_with_the_call(fake_openai):
    fake_openai.reply = PROFANE
    provider = OpenAIProvider(api_key="sk-test", model="gpt-4o-mini", base_url=fake_openai.base_url)
    manager = LLMManager([provider], fallback_models=[], mock_fallback=False, max_retries=0)
    response = async_to_sync(manager.generate_response)(
        LLMRequest(prompt="How do I submit expenses?"), validate_response=True, agent_name="py"
    )
    call_id = response.metadata["request_id"]
    stored = ValidationResult.objects.get(call_id=call_id)
    assert stored.is_valid is False is response.metadata["validation"]["is_valid"]
    assert stored.quality_score == response.metadata["validation"]["quality_score"]
    assert stored.policy == response.metadata["validation"]["policy"]


def test_python_api_validation_is_told_the_finish_reason_and_the_request(fake_openai):
    provider = OpenAIProvider(api_key="sk-test", model="gpt-4o-mini", base_url=fake_openai.base_url)
    manager = LLMManager([provider], fallback_models=[], mock_fallback=False, max_retries=0)
    response = async_to_sync(manager.generate_response)(
        LLMRequest(prompt="Explain the expense policy.", max_tokens=3), validate_response=True
    )
    assert response.finish_reason == "length"
    checks = {c["name"]: c for c in response.metadata["validation"]["checks"]}
    assert checks["not_truncated"]["severity"] == "warning"  # the caller's own cap
    assert "max_tokens=3" in checks["not_truncated"]["message"]


def test_a_batch_written_again_keeps_one_result_per_call():
    record = a_record()
    record.validation = {"is_valid": False, "quality_score": 0.6, "issues": ["x"],
                         "checks": [{"name": "no_pii", "family": "safety", "passed": False,
                                     "severity": "error", "message": "x"}],
                         "policy": "built-in defaults"}  # fmt: skip
    calls_record_batch([record])
    calls_record_batch([record])  # retried after an ambiguous failure
    assert LLMCall.objects.filter(id=record.id).count() == 1
    stored = ValidationResult.objects.get(call_id=record.id)
    assert (stored.is_valid, stored.failed_families) == (False, ["safety"])
