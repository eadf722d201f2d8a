"""The response cache for ``/v1/messages``: Anthropic messages stored and replayed.

The cache itself (policy, key, single flight, the record of a hit) is the chat
endpoint's (``llm_gateway.api.cached``); this is only the shape of what is
stored, an Anthropic ``message``, and how a hit is replayed: the message as
is, or the event sequence Anthropic would have streamed for it, so the SDK's
``messages.stream`` helpers rebuild the same message.
"""

from __future__ import annotations

import json
from typing import Any

from llm_gateway.api.cached import sse_response
from llm_gateway.api.http import ApiResponse
from llm_gateway.cache import CachedAnswer, answer_from_record
from llm_gateway.manager import CallContext

_PIECE = 512  # characters per replayed text delta
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


def _message_of(record: Any, finish: str) -> dict[str, Any] | None:
    """The stored message: the answer as Anthropic sent it, or for a stream
    (which keeps only its text) a text message rebuilt from the record."""
    body = record.response_body
    if isinstance(body, dict) and body.get("type") == "message":
        return body
    if not isinstance(body, dict) or not body.get("content") or finish not in _STOP_REASONS:
        return None
    writes = int(record.metadata.get("cache_write_tokens") or 0)
    return {
        "id": f"msg_{record.id.hex}",
        "type": "message",
        "role": "assistant",
        "model": record.model,
        "content": [{"type": "text", "text": body["content"]}],
        "stop_reason": _STOP_REASONS[finish],
        "stop_sequence": None,
        "usage": {
            "input_tokens": record.prompt_tokens - record.cached_tokens - writes,
            "output_tokens": record.completion_tokens,
            "cache_read_input_tokens": record.cached_tokens,
            "cache_creation_input_tokens": writes,
        },
    }


class MessagesShape:
    tag = "messages"

    def stored(self, record: Any, body: dict[str, Any]) -> CachedAnswer | None:
        return answer_from_record(record, body, completion_of=_message_of)

    def replay(self, found: CachedAnswer, ctx: CallContext, *, stream: bool) -> ApiResponse:
        message = {**found.completion, "id": f"msg_{ctx.request_id.hex}"}
        if stream:
            return sse_response(message_events(message))
        return ApiResponse(body=json.dumps(message).encode())


def _event(data: dict[str, Any]) -> str:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"


def _block_events(index: int, block: dict[str, Any]) -> list[str]:
    """One content block as start, deltas and stop, as Anthropic streams it."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text", "")
        start, deltas = (
            {**block, "text": ""},
            [
                {"type": "text_delta", "text": text[i : i + _PIECE]}
                for i in range(0, len(text), _PIECE)
            ],
        )
    elif kind == "tool_use":
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block.get("input", {}))}]
    else:  # thinking, server tool results…: whole in the start event
        start, deltas = block, []
    events = [_event({"type": "content_block_start", "index": index, "content_block": start})]
    events += [_event({"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    events.append(_event({"type": "content_block_stop", "index": index}))
    return events


def message_events(message: dict[str, Any]) -> list[str]:
    """A stored message as the event sequence of a Messages stream."""
    usage = dict(message.get("usage") or {})
    opening = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    events = [_event({"type": "message_start", "message": opening})]
    for index, block in enumerate(message.get("content") or []):
        events += _block_events(index, block)
    delta = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
    }
    events.append(_event({"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(_event({"type": "message_stop"}))
    events.append(": x-gateway-cost-usd 0\n\n")
    return events
