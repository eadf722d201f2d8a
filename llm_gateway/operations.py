"""The operations an agent can ask for, and how each one's usage is read.

Every endpoint is one operation on the same path (admit, route, call with
retries and failover, read the usage, price, record): what differs is the
provider method it calls and where its answer keeps the token counts. Those
differences live here, as data, so the path itself stays one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from common.operations import (  # noqa: F401 - re-exported: the gateway's names for them
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    MESSAGES,
    MODERATIONS,
    OPERATIONS,
    RESPONSES,
)
from llm_gateway.interface import TokenUsage


@dataclass
class OperationReply:
    """A provider's whole answer: its JSON, and the bytes to relay unchanged."""

    data: dict[str, Any]
    content: bytes
    model: str = ""


@dataclass
class SSEEvent:
    """One server-sent event as the provider sent it (``raw`` is relayed as is)."""

    raw: bytes
    data: dict[str, Any] | None = None
    event: str = ""
    done: bool = False  # the ``data: [DONE]`` sentinel


@dataclass
class StreamProgress:
    """What a stream has told so far: text, usage, finish and the first token time."""

    text: list[str] = field(default_factory=list)
    usage: TokenUsage | None = None
    finish_reason: str | None = None
    model: str | None = None
    reasoning_tokens: int = 0
    response_id: str = ""  # the upstream's id of the answer
    failure: dict[str, Any] | None = None


# --- usage per answer shape ---------------------------------------------------------


def embeddings_usage(data: dict[str, Any]) -> TokenUsage:
    usage = data.get("usage") or {}
    prompt = _int(usage.get("prompt_tokens"))
    return TokenUsage(prompt_tokens=prompt, total_tokens=_int(usage.get("total_tokens")) or prompt)


def responses_usage(usage: dict[str, Any] | None) -> tuple[TokenUsage, int]:
    """Usage of a Responses API answer, and its reasoning tokens (inside the output)."""
    usage = usage or {}
    prompt, output = _int(usage.get("input_tokens")), _int(usage.get("output_tokens"))
    cached = _int((usage.get("input_tokens_details") or {}).get("cached_tokens"))
    reasoning = _int((usage.get("output_tokens_details") or {}).get("reasoning_tokens"))
    tokens = TokenUsage(prompt, output, prompt + output, cached_tokens=min(cached, prompt))
    return tokens, reasoning


def chat_shaped_usage(data: dict[str, Any]) -> TokenUsage:
    return TokenUsage.from_openai(data.get("usage"))


def no_usage(data: dict[str, Any]) -> TokenUsage:
    return TokenUsage()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


# --- text and finish of an answer (validation, the call log) -------------------------


def responses_text(data: dict[str, Any]) -> str:
    """The output text of a Responses API answer (its ``message`` items' text parts)."""
    parts: list[str] = []
    for item in data.get("output") or ():
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text":
                    parts.append(str(part.get("text") or ""))
    return "".join(parts)


def responses_finish(data: dict[str, Any]) -> str:
    """``stop`` for a completed response, else the reason it is incomplete."""
    if data.get("status") == "incomplete":
        reason = (data.get("incomplete_details") or {}).get("reason") or "incomplete"
        return "length" if reason == "max_output_tokens" else str(reason)[:32]
    return "stop" if data.get("status") in (None, "completed") else str(data.get("status"))[:32]


def completions_text(data: dict[str, Any]) -> str:
    choices = data.get("choices") or [{}]
    return str(choices[0].get("text") or "") if isinstance(choices[0], dict) else ""


def completions_finish(data: dict[str, Any]) -> str:
    choices = data.get("choices") or [{}]
    return str((choices[0] or {}).get("finish_reason") or "") if choices else ""


def no_text(data: dict[str, Any]) -> str:
    return ""


def stop_finish(data: dict[str, Any]) -> str:
    return "stop"


# --- the operations ------------------------------------------------------------------------


@dataclass(frozen=True)
class OperationSpec:
    """What the common path needs to know about one operation."""

    name: str
    path: str
    method: str  # the provider method answering it (``embed``, ``respond``…)
    usage: Callable[[dict[str, Any]], TokenUsage]
    text: Callable[[dict[str, Any]], str] = no_text
    finish: Callable[[dict[str, Any]], str] = stop_finish
    stream_method: str = ""
    # LLM_FALLBACK_MODELS are chat models: they can stand in for a chat-like
    # request, never for an embedding (another vector space) or a legacy prompt.
    model_fallback: bool = False
    # Recorded at $0 whatever the price table says (OpenAI does not bill them).
    free: bool = False


def _responses_usage_only(data: dict[str, Any]) -> TokenUsage:
    return responses_usage(data.get("usage"))[0]


SPECS: dict[str, OperationSpec] = {
    EMBEDDINGS: OperationSpec(EMBEDDINGS, "/v1/embeddings", "embed", embeddings_usage),
    RESPONSES: OperationSpec(
        RESPONSES,
        "/v1/responses",
        "respond",
        _responses_usage_only,
        text=responses_text,
        finish=responses_finish,
        stream_method="respond_stream",
        model_fallback=True,
    ),
    COMPLETIONS: OperationSpec(
        COMPLETIONS,
        "/v1/completions",
        "complete_text",
        chat_shaped_usage,
        text=completions_text,
        finish=completions_finish,
        stream_method="complete_text_stream",
    ),
    MODERATIONS: OperationSpec(MODERATIONS, "/v1/moderations", "moderate", no_usage, free=True),
}


def supports(provider: Any, spec: OperationSpec, *, stream: bool = False) -> bool:
    """Whether ``provider`` can answer the operation (Anthropic has no embeddings)."""
    return callable(getattr(provider, spec.stream_method if stream else spec.method, None))


# --- streamed events ----------------------------------------------------------------------


def responses_event_seen(progress: StreamProgress, data: dict[str, Any]) -> None:
    """Fold one Responses API stream event into what the stream has told so far."""
    kind = data.get("type") or ""
    if kind == "response.output_text.delta":
        progress.text.append(str(data.get("delta") or ""))
        return
    response = data.get("response")
    if not isinstance(response, dict):
        if kind == "error":
            progress.failure = data
        return
    progress.model = response.get("model") or progress.model
    progress.response_id = response.get("id") or progress.response_id
    if kind in ("response.completed", "response.incomplete", "response.failed"):
        progress.usage, progress.reasoning_tokens = responses_usage(response.get("usage"))
        progress.finish_reason = responses_finish(response)
        if kind == "response.failed":
            progress.failure = response.get("error") or {"message": "response failed"}


def completions_event_seen(progress: StreamProgress, data: dict[str, Any]) -> None:
    """Fold one legacy completions chunk in (the last one carries the usage)."""
    choices = data.get("choices") or []
    if choices and isinstance(choices[0], dict):
        progress.text.append(str(choices[0].get("text") or ""))
        progress.finish_reason = choices[0].get("finish_reason") or progress.finish_reason
    progress.model = data.get("model") or progress.model
    progress.response_id = progress.response_id or str(data.get("id") or "")
    if data.get("usage"):
        progress.usage = TokenUsage.from_openai(data["usage"])


EVENT_READERS: dict[str, Callable[[StreamProgress, dict[str, Any]], None]] = {
    RESPONSES: responses_event_seen,
    COMPLETIONS: completions_event_seen,
}
