"""A call's stored bodies read back as a chat: who said what, tool calls, tool results.

The call log keeps each request and answer in its own wire shape (OpenAI chat,
Anthropic messages, the Responses API, completions, or the gateway's own
``{"content", "finish_reason"}`` for streams and cache hits). Pages that show a
conversation (a session's steps) want one shape, so this turns any of them
into a list of ``Message``. Bodies were redacted when stored; they are
redacted again here on the way out, as the request detail does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from common.redaction import redact

# A page of fifty steps with full tool outputs would be megabytes; the call's
# own page has the whole body.
MAX_TEXT = 2000


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str
    call_id: str = ""


@dataclass(frozen=True)
class Message:
    role: str  # system, user, assistant, tool, error
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str = ""
    truncated: bool = False


def _message(role: Any, text: str, **fields: Any) -> Message:
    cut = len(text) > MAX_TEXT
    return Message(str(role or "user"), text[:MAX_TEXT], truncated=cut, **fields)


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _parts(role: Any, content: Any) -> list[Message]:
    """A message's content: a string, or parts (OpenAI) / blocks (Anthropic)."""
    if not isinstance(content, list):
        return [_message(role, _as_text(content))]
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for part in content:
        if not isinstance(part, dict):
            texts.append(_as_text(part))
        elif isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "tool_use":
            calls.append(
                ToolCall(
                    str(part.get("name", "")), _as_text(part.get("input")), str(part.get("id", ""))
                )
            )
        elif part.get("type") == "tool_result":
            body = part.get("content")
            text = (
                "\n".join(m.text for m in _parts("tool", body))
                if isinstance(body, list)
                else _as_text(body)
            )
            results.append(_message("tool", text, tool_call_id=str(part.get("tool_use_id", ""))))
        else:
            texts.append(f"[{part.get('type', 'part')}]")
    head = [_message(role, "\n".join(texts), tool_calls=tuple(calls))] if texts or calls else []
    return head + results


def _openai_message(message: dict[str, Any]) -> list[Message]:
    role = message.get("role", "user")
    found = _parts(role, message.get("content"))
    calls = tuple(
        ToolCall(str(f.get("name", "")), _as_text(f.get("arguments")), str(c.get("id", "")))
        for c in message.get("tool_calls") or []
        if isinstance(c, dict) and isinstance(f := c.get("function"), dict)
    )
    if calls:
        first = found[0] if found else _message(role, "")
        found = [
            Message(first.role, first.text, calls, first.tool_call_id, first.truncated),
            *found[1:],
        ]
    if role == "tool" and found:
        found[0] = _message(
            "tool", found[0].text, tool_call_id=str(message.get("tool_call_id", ""))
        )
    return [m for m in found if m.text or m.tool_calls]


def _responses_item(item: Any) -> list[Message]:
    """An item of the Responses API's ``input`` or ``output``."""
    if not isinstance(item, dict):
        return [_message("user", _as_text(item))]
    kind = item.get("type")
    if kind == "function_call":
        call = ToolCall(
            str(item.get("name", "")), _as_text(item.get("arguments")), str(item.get("call_id", ""))
        )
        return [Message("assistant", tool_calls=(call,))]
    if kind == "function_call_output":
        return [
            _message(
                "tool", _as_text(item.get("output")), tool_call_id=str(item.get("call_id", ""))
            )
        ]
    if "role" in item:
        return _openai_message(item)
    return []


def request_messages(body: Any) -> list[Message]:
    """The conversation a request sent, in order."""
    if not isinstance(body, dict):
        return [_message("user", _as_text(body))] if body else []
    found: list[Message] = []
    for key in ("system", "instructions"):
        if body.get(key):
            found += _parts("system", body[key])
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            found += _openai_message(message) if isinstance(message, dict) else []
    elif isinstance(body.get("input"), list):
        for item in body["input"]:
            found += _responses_item(item)
    elif body.get("input") is not None or body.get("prompt") is not None:
        found += _parts("user", body.get("input", body.get("prompt")))
    return found


def response_messages(body: Any) -> list[Message]:
    """What the answer said (or the error it was)."""
    if isinstance(body, str):
        return [_message("assistant", body)] if body else []
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("error"), dict):
        return [_message("error", _as_text(body["error"].get("message") or body["error"]))]
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        choice = choices[0]
        if isinstance(choice.get("message"), dict):
            return _openai_message({"role": "assistant", **choice["message"]})
        return [_message("assistant", _as_text(choice.get("text")))]
    if isinstance(body.get("output"), list):
        return [m for item in body["output"] for m in _responses_item(item)]
    if body.get("type") == "message" or isinstance(body.get("content"), list | str):
        return _parts("assistant", body.get("content"))
    return []


def call_transcript(request_body: Any, response_body: Any) -> list[Message] | None:
    """The call's messages, its answer last; None when no body was stored."""
    if request_body is None and response_body is None:
        return None
    return request_messages(redact(request_body)) + response_messages(redact(response_body))
