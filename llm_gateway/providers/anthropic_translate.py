"""OpenAI chat format ⇄ Anthropic Messages format.

The gateway speaks OpenAI's format inside (interface.py), so the Anthropic
provider translates at its edge: requests on the way out, messages, usage,
stop reasons and stream events on the way back. Pure functions over dicts,
so they are tested without any network.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from llm_gateway.interface import LLMRequest, StreamChunk, TokenUsage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# OpenAI parameters Anthropic has no equivalent for; dropped rather than sent
# (Anthropic rejects unknown fields with a 400).
_DROPPED = {
    "n",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "seed",
    "response_format",
    "stream",
    "stream_options",
    "parallel_tool_calls",
    "max_completion_tokens",
    "store",
    "service_tier",
    "modalities",
    "reasoning_effort",
}


@dataclass
class AnthropicUsage(TokenUsage):
    """OpenAI-style usage that also carries Anthropic's cache writes.

    ``prompt_tokens`` includes them (as OpenAI's would); the manager prices
    them at the cache-write rate instead of the input rate.
    """

    cache_write_tokens: int = 0
    # Among the writes: those cached for an hour, billed at a higher rate.
    cache_write_1h_tokens: int = 0


def usage_from_anthropic(usage: dict[str, Any] | None) -> AnthropicUsage:
    """Anthropic's ``input_tokens`` excludes cache reads and writes; OpenAI's
    ``prompt_tokens`` includes cached tokens, so they are added back."""
    usage = usage or {}
    read = int(usage.get("cache_read_input_tokens") or 0)
    write = int(usage.get("cache_creation_input_tokens") or 0)
    lifetimes = usage.get("cache_creation") or {}
    write_1h = min(int(lifetimes.get("ephemeral_1h_input_tokens") or 0), write)
    prompt = int(usage.get("input_tokens") or 0) + read + write
    completion = int(usage.get("output_tokens") or 0)
    return AnthropicUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=read,
        cache_write_tokens=write,
        cache_write_1h_tokens=write_1h,
    )


def openai_usage(usage: AnthropicUsage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
    }


# --- request --------------------------------------------------------------------------


def anthropic_body(
    request: LLMRequest, default_model: str, temperature: float | None
) -> dict[str, Any]:
    """The Messages API body for an OpenAI-shaped request."""
    extra = dict(request.extra)
    system, messages = translate_messages(request.to_messages())
    body: dict[str, Any] = {
        "model": request.model or default_model,
        "max_tokens": request.max_tokens
        or extra.get("max_completion_tokens")
        or settings.LLM_MAX_TOKENS,
        "messages": messages,
    }
    if system:
        body["system"] = system
    temp = extra.pop("temperature", None)
    temp = request.temperature if temp is None else temp
    # The gateway's default only for its own Python API callers, and not beside
    # top_p: newer Claude models refuse both at once.
    if temp is None and not request.passthrough and "top_p" not in extra:
        temp = temperature
    if temp is not None:
        body["temperature"] = min(float(temp), 1.0)  # OpenAI allows 0–2, Anthropic 0–1
    stop = extra.pop("stop", None)
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if extra.get("tools"):
        body["tools"] = [_tool(t) for t in extra.pop("tools")]
        choice = _tool_choice(extra.pop("tool_choice", None), extra.get("parallel_tool_calls"))
        if choice:
            body["tool_choice"] = choice
    if "user" in extra:
        body["metadata"] = {"user_id": str(extra.pop("user"))}
    for key, value in extra.items():
        if key not in _DROPPED and key not in ("tools", "tool_choice"):
            body[key] = value  # top_p, top_k, metadata, thinking, …: passed on as given
    return body


def translate_messages(
    messages: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System blocks and alternating user/assistant messages.

    Anthropic takes the system prompt apart from the turns, has no ``tool``
    role (results are ``tool_result`` blocks in a user turn) and wants turns
    to alternate, so consecutive same-role turns are merged.
    """
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_content_blocks(message.get("content")))
            continue
        if role == "tool":
            role, blocks = "user", [_tool_result(message)]
        elif role == "assistant":
            blocks = _content_blocks(message.get("content")) + [
                _tool_use(call) for call in message.get("tool_calls") or []
            ]
        else:
            role, blocks = "user", _content_blocks(message.get("content"))
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [block for part in content if (block := _part(part)) is not None]


def _part(part: Any) -> dict[str, Any] | None:
    """One OpenAI content part as an Anthropic block (unknown parts pass through)."""
    if isinstance(part, str):
        return {"type": "text", "text": part}
    kind = part.get("type")
    if kind in ("text", "input_text"):
        return {"type": "text", "text": part.get("text", "")}
    if kind == "image_url":
        url = (part.get("image_url") or {}).get("url", "")
        if url.startswith("data:") and ";base64," in url:
            media_type, data = url[5:].split(";base64,", 1)
            source = {"type": "base64", "media_type": media_type, "data": data}
        else:
            source = {"type": "url", "url": url}
        return {"type": "image", "source": source}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal", "")}
    return part


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments") or "{}"
    try:
        tool_input = json.loads(arguments) if isinstance(arguments, str) else arguments
    except ValueError:
        tool_input = {"arguments": arguments}  # models sometimes emit broken JSON
    return {
        "type": "tool_use",
        "id": call.get("id"),
        "name": function.get("name"),
        "input": tool_input,
    }


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    blocks = content if isinstance(content, str) else _content_blocks(content)
    return {"type": "tool_result", "tool_use_id": message.get("tool_call_id"), "content": blocks}


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        return tool  # an Anthropic-native tool (web search, …) given as is
    function = tool.get("function") or {}
    result = {
        "name": function.get("name"),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        result["description"] = function["description"]
    return result


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if isinstance(choice, dict):
        result = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        result = {"type": {"required": "any", "none": "none"}.get(choice or "auto", "auto")}
    if parallel is False and result["type"] != "none":
        result["disable_parallel_tool_use"] = True
    return result


# --- response -------------------------------------------------------------------------


def completion_from_anthropic(message: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` dict for a Messages API answer."""
    text = "".join(
        b.get("text", "") for b in message.get("content") or [] if b.get("type") == "text"
    )
    calls = [
        {
            "id": block.get("id"),
            "type": "function",
            "function": {
                "name": block.get("name"),
                "arguments": json.dumps(block.get("input", {})),
            },
        }
        for block in message.get("content") or []
        if block.get("type") == "tool_use"
    ]
    reply: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        reply["tool_calls"] = calls
    return {
        "id": message.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model"),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": finish_reason(message.get("stop_reason")),
            }
        ],
        "usage": openai_usage(usage_from_anthropic(message.get("usage"))),
    }


def finish_reason(stop_reason: str | None) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(stop_reason, "stop")


class StreamTranslator:
    """Turns Anthropic stream events into OpenAI ``chat.completion.chunk`` dicts.

    Stateful because OpenAI chunks repeat the id and model on every chunk and
    number tool calls from 0, while Anthropic says them once and numbers all
    content blocks together.
    """

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = int(time.time())
        self.usage: dict[str, Any] = {}
        self.tool_index: dict[int, int] = {}  # Anthropic block index → OpenAI tool index
        self.finished = False

    def feed(self, event: dict[str, Any]) -> list[StreamChunk]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.id, self.model = message.get("id", ""), message.get("model", "")
            self.usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_delta":
            return self._block_delta(event)
        if kind == "message_delta":
            # Newer APIs repeat the full usage here; the fake and older ones only output_tokens.
            self.usage.update(
                {k: v for k, v in (event.get("usage") or {}).items() if v is not None}
            )
            reason = finish_reason((event.get("delta") or {}).get("stop_reason"))
            return [self._chunk({}, finish=reason)] if reason else []
        if kind == "message_stop":
            self.finished = True
            return [self._usage_chunk()]
        return []  # ping, content_block_stop, thinking and unknown events

    def _block_start(self, event: dict[str, Any]) -> list[StreamChunk]:
        block = event.get("content_block") or {}
        if block.get("type") == "tool_use":
            index = self.tool_index.setdefault(event.get("index", 0), len(self.tool_index))
            call = {
                "index": index,
                "id": block.get("id"),
                "type": "function",
                "function": {"name": block.get("name"), "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]}, text=block["text"])]
        return []

    def _block_delta(self, event: dict[str, Any]) -> list[StreamChunk]:
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [self._chunk({"content": delta.get("text", "")}, text=delta.get("text", ""))]
        if delta.get("type") == "input_json_delta":
            index = self.tool_index.get(event.get("index", 0), 0)
            call = {"index": index, "function": {"arguments": delta.get("partial_json", "")}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _base(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def _chunk(
        self, delta: dict[str, Any], *, finish: str | None = None, text: str = ""
    ) -> StreamChunk:
        raw = {**self._base(), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return StreamChunk(delta=text, raw=raw, finish_reason=finish, model=self.model)

    def _usage_chunk(self) -> StreamChunk:
        usage = usage_from_anthropic(self.usage)
        raw = {**self._base(), "choices": [], "usage": openai_usage(usage)}
        return StreamChunk(raw=raw, usage=usage, model=self.model)
