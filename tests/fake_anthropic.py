"""A real local HTTP fake of the Anthropic Messages API.

Why: the gateway's Anthropic path (headers, SSE event names, usage with cache tokens, error
shapes, retry-after) must be tested end to end through the real SDK and network stack, offline.
It shares the server plumbing of ``tests/fake_openai.py`` and runs the same two ways::

    python tests/fake_anthropic.py --port 9200 --latency-ms 200 --chunk-delay-ms 0
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if not __package__:  # script mode: ``python tests/fake_anthropic.py``; make ``tests`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fake_openai import (
    AbortStream,
    ClientWatch,
    FakeServer,
    RecordedCall,
    Request,
    Send,
    count_words,
    cut_at_stop,
    default_reply,
    end_body,
    send_event,
    send_json,
    split_words,
    start_sse,
    truncate_words,
)

__all__ = ["FakeAnthropic", "RecordedCall", "anthropic_error_body"]

DEFAULT_MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6")
_MODEL_CREATED_AT = "2025-05-14T00:00:00Z"

_ANTHROPIC_ERROR_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        (
            "Number of request tokens has exceeded your per-minute rate limit "
            "(https://docs.anthropic.com/en/api/rate-limits); see the response headers for "
            "current usage. Please reduce the prompt length or the maximum tokens requested, or "
            "try again later."
        ),
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error_body(
    status: int,
    *,
    model: str = "",
    type: str | None = None,
    message: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Build ``{"type": "error", "error": {...}}`` with Anthropic's type/message for ``status``."""
    default_type, default_message = _ANTHROPIC_ERROR_DEFAULTS.get(
        status, ("api_error", "Internal server error")
    )
    body: dict[str, Any] = {
        "type": "error",
        "error": {
            "type": type or default_type,
            "message": message or default_message.format(model=model or "unknown"),
        },
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


def _block_text(block: Any) -> str:
    """Countable text of one content block (text, tool_result, tool_use input)."""
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_result":
        return _content_text(block.get("content"))
    if kind == "tool_use":
        return json.dumps(block.get("input", {}))
    return ""


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(_block_text(b) for b in content)
    return _block_text(content)


def anthropic_input_tokens(body: dict[str, Any]) -> int:
    """Words in ``system`` and every message's content blocks, plus 3 per message."""
    system = count_words(_content_text(body.get("system")))
    messages = body.get("messages") or []
    return system + sum(
        count_words(_content_text(m.get("content") if isinstance(m, dict) else None)) + 3
        for m in messages
    )


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(
                    str(b.get("text", ""))
                    for b in content
                    if isinstance(b, dict) and b.get("type") == "text"
                )
            return content if isinstance(content, str) else ""
    return ""


@dataclass
class MessagePlan:
    """The answer to one Messages request, decided before any sleeping."""

    message_id: str
    model: str
    input_tokens: int
    output_tokens: int
    stop_reason: str
    stop_sequence: str | None
    text: str | None = None
    tool_use: dict[str, Any] | None = None


class FakeAnthropic(FakeServer):
    """Fake Anthropic upstream; see the module docstring for the why.

    Switches (plain attributes, settable any time): ``reply``, ``latency``, ``chunk_delay``,
    ``hang``, ``fail_always``, ``known_models``, ``expected_api_key``, ``reset_stream_after``,
    ``cache_read_input_tokens``, ``cache_creation_input_tokens``,
    ``cache_creation_1h_input_tokens``, ``tool_use``.
    """

    vendor = "Anthropic"

    def _set_defaults(self) -> None:
        super()._set_defaults()
        self.cache_read_input_tokens: int = 0
        self.cache_creation_input_tokens: int = 0
        # Of those writes, how many have a 1-hour lifetime (usage.cache_creation breakdown).
        self.cache_creation_1h_input_tokens: int = 0
        self.tool_use: dict[str, Any] | None = None

    @property
    def base_url(self) -> str:
        """The SDK appends ``/v1/messages`` itself, so the base URL is the bare origin."""
        return self.url

    @property
    def message_calls(self) -> list[RecordedCall]:
        with self._lock:
            return [c for c in self.calls if c.path == "/v1/messages"]

    def fail_next(
        self,
        n: int,
        status: int = 500,
        *,
        retry_after: str | None = None,
        type: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``n`` Messages requests with this Anthropic error (queued in order)."""
        super().fail_next(n, status, retry_after=retry_after, type=type, message=message)

    def fail_always_with(
        self,
        status: int,
        *,
        retry_after: str | None = None,
        type: str | None = None,
        message: str | None = None,
    ) -> None:
        """Fail every Messages request with this error until ``reset()``."""
        super().fail_always_with(status, retry_after=retry_after, type=type, message=message)

    # -- routing ------------------------------------------------------------------------------

    async def handle(self, request: Request, watch: ClientWatch, send: Send) -> None:
        request_id = f"req_fake_{self._next_id()}"
        headers = {"request-id": request_id}
        if request.method == "GET" and request.path == "/v1/models":
            await send_json(send, 200, self._models_payload(), headers)
        elif request.method == "POST" and request.path == "/v1/messages":
            await self._messages(request, watch, send, headers)
        elif request.method == "POST" and request.path == "/v1/messages/count_tokens":
            problem = self._check_request(request, request_id, count_only=True)
            if problem is not None:
                status, payload, extra = problem
                await send_json(send, status, payload, {**headers, **extra})
            else:
                tokens = anthropic_input_tokens(request.body)
                await send_json(send, 200, {"input_tokens": tokens}, headers)
        else:
            error = anthropic_error_body(404, message="Not Found", request_id=request_id)
            await send_json(send, 404, error, headers)

    def _models_payload(self) -> dict[str, Any]:
        ids = sorted(self.known_models) if self.known_models is not None else DEFAULT_MODELS
        data = [
            {
                "type": "model",
                "id": m,
                "display_name": m.replace("-", " ").title(),
                "created_at": _MODEL_CREATED_AT,
            }
            for m in ids
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    # -- messages -----------------------------------------------------------------------------

    def _check_request(
        self, request: Request, request_id: str, *, count_only: bool = False
    ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Headers, auth, validation and injected failures, in Anthropic's order."""

        def error(status: int, message: str | None = None, **kw: Any) -> dict[str, Any]:
            return anthropic_error_body(status, message=message, request_id=request_id, **kw)

        headers = request.headers
        if "anthropic-version" not in headers:
            return 400, error(400, "anthropic-version: header is required"), {}
        auth = headers.get("authorization", "")
        key = headers.get("x-api-key") or (auth[7:] if auth.startswith("Bearer ") else None)
        if key is None:
            return 401, error(401, "x-api-key header is required"), {}
        if self.expected_api_key is not None and key != self.expected_api_key:
            return 401, error(401), {}
        body = request.body
        if request.json_error or not isinstance(body, dict):
            return 400, error(400, "There was an issue with your request body: invalid JSON"), {}
        required = ("model", "messages") if count_only else ("model", "max_tokens", "messages")
        for name in required:
            if name not in body:
                return 400, error(400, f"{name}: Field required"), {}
        if not isinstance(body["messages"], list):
            return 400, error(400, "messages: Input should be a valid list"), {}
        if count_only:
            return None
        failure = self._take_failure()
        if failure is not None:
            options = dict(failure.options)
            retry_after = options.pop("retry_after", None)
            extra = {"retry-after": str(retry_after)} if retry_after is not None else {}
            payload = error(failure.status, model=str(body["model"]), **options)
            return failure.status, payload, extra
        if self.known_models is not None and body["model"] not in self.known_models:
            return 404, error(404, model=str(body["model"])), {}
        return None

    async def _messages(
        self, request: Request, watch: ClientWatch, send: Send, headers: dict[str, str]
    ) -> None:
        problem = self._check_request(request, headers["request-id"])
        plan = None if problem else self._plan(request.body)
        if not await watch.sleep(self.hang + self.latency):
            return
        if problem is not None:
            status, payload, extra = problem
            await send_json(send, status, payload, {**headers, **extra})
            return
        assert plan is not None
        if request.body.get("stream"):
            await self._stream(plan, watch, send, headers)
        else:
            await send_json(send, 200, self._message(plan), headers)

    def _plan(self, body: dict[str, Any]) -> MessagePlan:
        """Decide text or tool use, stop reason and usage from the request and switches."""
        message_id = f"msg_fake_{self._next_id()}"
        model = str(body["model"])
        input_tokens = anthropic_input_tokens(body)
        if self.tool_use is not None and body.get("tools"):
            block = self._tool_use_block(body["tools"])
            tokens = count_words(json.dumps(block["input"])) + 1
            return MessagePlan(
                message_id, model, input_tokens, tokens, "tool_use", None, tool_use=block
            )
        text = self.reply
        if text is None:
            text = default_reply(_last_user_text(body["messages"]), self.vendor)
        text, stop_sequence = cut_at_stop(text, body.get("stop_sequences") or [])
        limit = body.get("max_tokens")
        text, cut = truncate_words(text, limit if isinstance(limit, int) else None)
        if cut:
            stop_reason, stop_sequence = "max_tokens", None
        else:
            stop_reason = "stop_sequence" if stop_sequence is not None else "end_turn"
        return MessagePlan(
            message_id, model, input_tokens, count_words(text), stop_reason, stop_sequence, text
        )

    def _tool_use_block(self, tools: list[Any]) -> dict[str, Any]:
        assert self.tool_use is not None
        first = tools[0] if tools and isinstance(tools[0], dict) else {}
        tool_input = self.tool_use.get("input", {})
        if isinstance(tool_input, str):
            tool_input = json.loads(tool_input)
        return {
            "type": "tool_use",
            "id": f"toolu_fake_{self._next_id()}",
            "name": self.tool_use.get("name") or first.get("name", "tool"),
            "input": tool_input,
        }

    def _usage(self, plan: MessagePlan, output_tokens: int | None = None) -> dict[str, Any]:
        return {
            "input_tokens": plan.input_tokens,
            "output_tokens": plan.output_tokens if output_tokens is None else output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens
                - self.cache_creation_1h_input_tokens,
                "ephemeral_1h_input_tokens": self.cache_creation_1h_input_tokens,
            },
        }

    def _content(self, plan: MessagePlan) -> list[dict[str, Any]]:
        if plan.tool_use is not None:
            return [plan.tool_use]
        return [{"type": "text", "text": plan.text or ""}]

    def _message(self, plan: MessagePlan) -> dict[str, Any]:
        return {
            "id": plan.message_id,
            "type": "message",
            "role": "assistant",
            "model": plan.model,
            "content": self._content(plan),
            "stop_reason": plan.stop_reason,
            "stop_sequence": plan.stop_sequence,
            "usage": self._usage(plan),
        }

    def _block_events(self, plan: MessagePlan) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
        """The ``content_block_start`` block and its deltas (text per word, or JSON pieces)."""
        if plan.tool_use is None:
            pieces = split_words(plan.text or "")
            return {"type": "text", "text": ""}, ({"type": "text_delta", "text": p} for p in pieces)
        start = {**plan.tool_use, "input": {}}
        pieces = ["", *split_words(json.dumps(plan.tool_use["input"]))]
        return start, ({"type": "input_json_delta", "partial_json": p} for p in pieces)

    async def _stream(
        self, plan: MessagePlan, watch: ClientWatch, send: Send, headers: dict[str, str]
    ) -> None:
        """Send Anthropic's SSE event sequence one event at a time."""
        start_message = {**self._message(plan), "content": [], "stop_reason": None}
        start_message["stop_sequence"] = None
        start_message["usage"] = self._usage(plan, output_tokens=1)
        block, deltas = self._block_events(plan)
        await start_sse(send, headers)
        await send_event(send, {"type": "message_start", "message": start_message}, "message_start")
        start = {"type": "content_block_start", "index": 0, "content_block": block}
        await send_event(send, start, "content_block_start")
        await send_event(send, {"type": "ping"}, "ping")
        reset_after = self.reset_stream_after
        for sent, delta in enumerate(deltas):
            if reset_after is not None and sent >= reset_after:
                raise AbortStream("reset_stream_after")
            if not await self._stream_pause(watch):
                return
            event = {"type": "content_block_delta", "index": 0, "delta": delta}
            await send_event(send, event, "content_block_delta")
        if reset_after == 0:  # no deltas at all, but a reset was still asked for
            raise AbortStream("reset_stream_after")
        await send_event(send, {"type": "content_block_stop", "index": 0}, "content_block_stop")
        message_delta = {
            "type": "message_delta",
            "delta": {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence},
            "usage": self._usage(plan),
        }
        await send_event(send, message_delta, "message_delta")
        await send_event(send, {"type": "message_stop"}, "message_stop")
        await end_body(send)


fake_anthropic = FakeAnthropic.pytest_fixture("fake_anthropic")


if __name__ == "__main__":
    FakeAnthropic.main()
