"""Anthropic Messages bodies relayed as they are (the gateway's ``/v1/messages``).

No translation round trip: the agent's body goes to Anthropic with only the
model possibly changed (a fallback), and the answer and the stream events come
back untouched. What the gateway needs for its record (text for the time to
first token and validation, usage with the cache reads and writes, the stop
reason) is read beside them. Pure functions over dicts, like
anthropic_translate.
"""

from __future__ import annotations

from typing import Any

from llm_gateway.interface import LLMRequest, LLMResponse, StreamChunk
from llm_gateway.providers.anthropic_translate import finish_reason, usage_from_anthropic

PROTOCOL = "anthropic"
# Request headers that change what Anthropic does, relayed with the body.
RELAYED_HEADERS = ("anthropic-beta",)


def native_create_args(request: LLMRequest, *, counting: bool = False) -> dict[str, Any]:
    """The SDK's ``messages.create`` (or ``count_tokens``) arguments for a relayed
    body: the fields it names, and every other field untouched in ``extra_body``."""
    assert request.native is not None
    body = {k: v for k, v in request.native.body.items() if k != "stream"}
    model = request.model or body.get("model")
    body.pop("model", None)
    max_tokens = body.pop("max_tokens", None)
    args: dict[str, Any] = {"model": model, "messages": body.pop("messages"), "extra_body": body}
    if not counting:  # count_tokens refuses max_tokens
        args["max_tokens"] = max_tokens
    # The agent's relayed headers, and the gateway's own ``traceparent``.
    headers = {**request.native.headers, **request.upstream_headers}
    if headers:
        args["extra_headers"] = headers
    return args


def message_text(message: dict[str, Any]) -> str:
    blocks = message.get("content") or []
    return "".join(b.get("text", "") for b in blocks if b.get("type") == "text")


def native_response(
    message: dict[str, Any], *, provider: str, kind: str, model: str
) -> LLMResponse:
    """The gateway's response for a Messages answer; ``raw`` is the answer as sent."""
    return LLMResponse(
        content=message_text(message),
        model=message.get("model") or model,
        provider=provider,
        token_usage=usage_from_anthropic(message.get("usage")),
        finish_reason=finish_reason(message.get("stop_reason")),
        raw=message,
        provider_kind=kind,
    )


class NativeEvents:
    """Reads what the record needs from each stream event and passes the event on.

    ``message_start`` carries the input side of the usage (cache reads and
    writes included), ``message_delta`` the output side (newer API versions
    repeat all of it): merged, the last chunk's usage is the call's.
    """

    def __init__(self) -> None:
        self.model = ""
        self.usage: dict[str, Any] = {}
        self.finished = False

    def feed(self, event: dict[str, Any], raw_json: str) -> StreamChunk:
        kind = event.get("type")
        chunk = StreamChunk(raw=event, raw_json=raw_json)
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model") or self.model
            self.usage.update(message.get("usage") or {})
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta":
                chunk.delta = delta.get("text", "")
        elif kind == "message_delta":
            usage = event.get("usage") or {}
            self.usage.update({k: v for k, v in usage.items() if v is not None})
            chunk.finish_reason = finish_reason((event.get("delta") or {}).get("stop_reason"))
            chunk.usage = usage_from_anthropic(self.usage)
        elif kind == "message_stop":
            self.finished = True
        chunk.model = self.model or None
        return chunk
