"""A finished call's OpenTelemetry attributes (GenAI semantic conventions + ``gateway.*``).

Pure functions of the ``CallRecord``, apart from the SDK so they can be read
and tested alone. Names follow the conventions' current (development) GenAI
attributes; anything the conventions do not cover is under ``gateway.``.
Message content is included only on request
(``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``) and is redacted
like the stored bodies: a trace backend is one more place a secret must not reach.
"""

from __future__ import annotations

import json
from typing import Any

from common.redaction import redact, redact_text

# gen_ai.provider.name's well-known values, by provider kind.
PROVIDER_NAMES = {
    "openai": "openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
}


# gen_ai.operation.name's well-known values, by the call's operation
# (common.operations); one the conventions do not name keeps its own name.
OPERATION_NAMES = {
    "chat": "chat",
    "messages": "chat",
    "embeddings": "embeddings",
    "completions": "text_completion",
    "responses": "chat",  # the successor of chat completions
}


def operation_name(record: Any) -> str:
    operation = record.operation or "chat"
    return OPERATION_NAMES.get(operation, operation)


def provider_name(record: Any) -> str:
    """The conventions' name for OpenAI, Azure and Anthropic; an
    OpenAI-compatible server (vLLM, Ollama…) goes by its configured name."""
    return PROVIDER_NAMES.get(record.provider_kind) or record.provider or "unknown"


def _body(record: Any) -> dict[str, Any]:
    return record.request_body if isinstance(record.request_body, dict) else {}


def _answer(record: Any) -> dict[str, Any]:
    return record.response_body if isinstance(record.response_body, dict) else {}


def _request_parameters(body: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    max_tokens = next(
        (
            body[name]
            for name in ("max_tokens", "max_completion_tokens", "max_output_tokens")
            if isinstance(body.get(name), int)
        ),
        None,
    )
    if max_tokens is not None:
        found["gen_ai.request.max_tokens"] = max_tokens
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            found[f"gen_ai.request.{name}"] = float(value)
    return found


def _usage(record: Any, answer: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {
        "gen_ai.usage.input_tokens": record.prompt_tokens,
        "gen_ai.usage.output_tokens": record.completion_tokens,
    }
    if record.cached_tokens:
        found["gen_ai.usage.cache_read.input_tokens"] = record.cached_tokens
    if written := record.metadata.get("cache_write_tokens"):
        found["gen_ai.usage.cache_creation.input_tokens"] = int(written)
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
    details = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if isinstance(reasoning, int) and reasoning:
        found["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return found


def _attribution(record: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if record.session_id:
        session = redact_text(record.session_id)
        found["gen_ai.conversation.id"] = session
        found["gateway.session_id"] = session
    if record.end_user:
        found["user.id"] = found["gateway.user"] = redact_text(record.end_user)
    if record.step:
        found["gateway.step"] = redact_text(record.step)
    for name, value in redact(record.tags).items():
        found[f"gateway.tags.{name}"] = value
    return found


def _gateway(record: Any, provider: str) -> dict[str, Any]:
    # Each attribute costs a few microseconds to check and encode, per call:
    # optional ones are set only when they say something.
    found = {
        "gateway.request_id": str(record.id),
        "gateway.cost_usd": str(record.cost),  # exact decimal text, never a float
        "gateway.agent": record.agent_name,
        "gateway.key_prefix": record.key_prefix,
        "gateway.retries": record.retries,
        "gateway.cache_hit": record.cache_hit,
    }
    if record.fallback:
        found["gateway.fallback"] = record.fallback
    if record.occurrences > 1:  # an aggregated row of refusals (llm_gateway.refusals)
        found["gateway.occurrences"] = record.occurrences
    if record.provider and record.provider != provider:
        found["gateway.provider"] = record.provider  # the configured provider's name
    return found


def call_attributes(record: Any, attempts: list, *, capture_content: bool) -> dict[str, Any]:
    answer = _answer(record)
    provider = provider_name(record)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation_name(record),
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": record.requested_model,
        **_request_parameters(_body(record)),
        **_usage(record, answer),
        **_gateway(record, provider),
    }
    if record.session_id or record.end_user or record.step or record.tags:
        attributes.update(_attribution(record))
    if record.model:
        attributes["gen_ai.response.model"] = record.model
    if record.stream:
        attributes["gen_ai.request.stream"] = True
    if isinstance(answer.get("id"), str):
        attributes["gen_ai.response.id"] = answer["id"]
    if record.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [record.finish_reason]
    if record.ttft_ms is not None:
        attributes["gen_ai.response.time_to_first_chunk"] = record.ttft_ms / 1000
    if record.status != "success":
        attributes["error.type"] = record.error_type or str(record.status)
    if attempts and attempts[-1].server_address:
        attributes["server.address"] = attempts[-1].server_address
    if capture_content:
        attributes.update(content_attributes(record))
    return attributes


def attempt_attributes(record: Any, attempt: Any, number: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation_name(record),
        "gen_ai.provider.name": PROVIDER_NAMES.get(attempt.kind) or attempt.provider,
        "gen_ai.request.model": attempt.model,
        "gateway.attempt": number,
        "gateway.provider": attempt.provider,
    }
    if attempt.server_address:
        attributes["server.address"] = attempt.server_address
    if attempt.error_type:
        attributes["error.type"] = attempt.error_type
    return attributes


def metric_attributes(record: Any) -> dict[str, Any]:
    """The conventions' metric attributes (low cardinality: no ids, no users)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation_name(record),
        "gen_ai.provider.name": provider_name(record),
        "gen_ai.request.model": record.requested_model,
    }
    if record.model:
        attributes["gen_ai.response.model"] = record.model
    if record.status != "success":
        attributes["error.type"] = record.error_type or str(record.status)
    return attributes


# --- message content (opt-in) ---------------------------------------------------------------


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append({"type": "text", "content": part["text"]})
        elif isinstance(part, dict):
            parts.append({"type": str(part.get("type", "unknown"))})
    return parts


def _input_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        prompt = body.get("input", body.get("prompt"))
        return [{"role": "user", "parts": _parts(prompt)}] if prompt is not None else []
    return [
        {"role": str(m.get("role", "user")), "parts": _parts(m.get("content"))}
        for m in messages
        if isinstance(m, dict)
    ]


def _output_messages(record: Any) -> list[dict[str, Any]]:
    answer = _answer(record)
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message") or {}
        text = message.get("content") if isinstance(message, dict) else None
    else:
        text = answer.get("content") if isinstance(answer.get("content"), str) else None
    if text is None and isinstance(record.response_body, str):
        text = record.response_body
    if text is None:
        return []
    return [
        {"role": "assistant", "parts": _parts(text), "finish_reason": record.finish_reason or ""}
    ]


def content_attributes(record: Any) -> dict[str, str]:
    """``gen_ai.input.messages`` / ``gen_ai.output.messages`` as JSON, redacted."""
    found = {}
    if inputs := _input_messages(_body(record)):
        found["gen_ai.input.messages"] = json.dumps(redact(inputs), ensure_ascii=False)
    if outputs := _output_messages(record):
        found["gen_ai.output.messages"] = json.dumps(redact(outputs), ensure_ascii=False)
    return found
