"""A session's page: any id, its waterfall, its conversation chat-style with
tool calls and results, and each call's feedback; and the transcript reader
behind it for each wire shape the call log stores."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.utils import timezone

from calls.models import LLMCall
from llm_gateway.transcript import Message, ToolCall, call_transcript
from validation.models import Feedback

SYSTEM = {"role": "system", "content": "You are terse."}
QUESTION = {"role": "user", "content": "Weather in Paris?"}
TOOL_CALL = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
    ],
}
TOOL_RESULT = {"role": "tool", "tool_call_id": "call_1", "content": "18 C, sunny"}


def _answer(message: dict) -> dict:
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def _run(session: str) -> list[LLMCall]:
    start = timezone.now() - timedelta(minutes=5)
    first = LLMCall.objects.create(
        session_id=session,
        step="plan",
        created_at=start,
        latency_ms=1500,
        model="gpt-4o-mini",
        cost=Decimal("0.0012"),
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="a" * 16,
        request_body={"messages": [SYSTEM, QUESTION]},
        response_body=_answer(TOOL_CALL),
    )
    second = LLMCall.objects.create(
        session_id=session,
        step="answer",
        created_at=start + timedelta(seconds=2),
        latency_ms=800,
        model="gpt-4o-mini",
        status="error",
        error_type="LLMTimeoutError",
        trace_id=first.trace_id,
        span_id="b" * 16,
        parent_id="a" * 16,
        request_body={"messages": [SYSTEM, QUESTION, TOOL_CALL, TOOL_RESULT]},
        response_body={"error": {"message": "No answer within 60 s."}},
    )
    third = LLMCall.objects.create(
        session_id=session, step="retry", created_at=start + timedelta(seconds=4), latency_ms=5
    )
    return [first, second, third]


@pytest.mark.django_db
def test_a_session_id_with_slashes_and_spaces_opens_its_page(staff_client):
    calls = _run("team a/run 7?x=1#frag")
    Feedback.objects.create(call=calls[0], score=0.0, comment="Asked the wrong tool.")
    response = staff_client.get(f"/sessions/{quote('team a/run 7?x=1#frag', safe='')}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "team a/run 7?x=1#frag" in page
    assert page.count('class="chart"') == 1  # the waterfall
    assert 'class="msg msg-user"' in page and "Weather in Paris?" in page
    assert "→ weather" in page and "18 C, sunny" in page
    assert "No answer within 60 s." in page  # the failed call's error, chat-style
    assert "3 earlier messages, as above" in page  # resent: the first call and its answer
    assert "Messages not stored" in page  # the third call kept no body
    assert "Asked the wrong tool." in page
    for call in calls:
        assert f"/requests/{call.id}/" in page


@pytest.mark.django_db
def test_the_waterfall_bars_run_from_start_to_end_coloured_by_status(monkeypatch):
    from dashkit import figures
    from llm_gateway.session_selectors import session_detail
    from llm_gateway.session_timeline import STATUS_COLORS, session_waterfall

    drawn = []
    monkeypatch.setattr(figures, "figure_html", lambda *, data, layout: drawn.append(data))
    calls = _run("s")
    session_waterfall(session_detail(session_id="s").steps)
    data = json.loads(json.dumps(drawn[0], default=str))
    by_group = {trace["name"]: trace for trace in data}
    assert set(by_group) == {"ok", "error"}
    ok, error = by_group["ok"], by_group["error"]
    assert ok["marker"]["color"] == STATUS_COLORS["ok"]
    assert ok["base"][0] == calls[0].created_at.isoformat() and ok["x"][0] == 1500
    assert ok["base"][1] == calls[2].created_at.isoformat() and ok["x"][1] == 5
    assert error["y"] == ["\u00a0\u00a0\u00a0└ 2. answer"]  # nested under the plan
    assert "answer" in error["customdata"][0] and "800 ms" in error["customdata"][0]


def test_openai_chat_with_tools_reads_as_a_chat():
    messages = call_transcript(
        {"messages": [SYSTEM, QUESTION, TOOL_CALL, TOOL_RESULT]},
        _answer({"role": "assistant", "content": "Sunny."}),
    )
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[2].tool_calls == (ToolCall("weather", "{}", "call_1"),)
    assert messages[3] == Message("tool", "18 C, sunny", tool_call_id="call_1")


def test_anthropic_blocks_read_as_a_chat():
    request = {
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "Weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "tu_1", "name": "weather", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "sunny"}],
            },
        ],
    }
    answer = {"type": "message", "content": [{"type": "text", "text": "It is sunny."}]}
    messages = call_transcript(request, answer)
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[2].tool_calls[0].name == "weather"
    assert messages[3].tool_call_id == "tu_1" and messages[3].text == "sunny"


def test_responses_api_items_and_streamed_answers_read_as_a_chat():
    request = {
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": "Weather?"},
            {"type": "function_call", "name": "weather", "arguments": "{}", "call_id": "fc_1"},
            {"type": "function_call_output", "call_id": "fc_1", "output": "sunny"},
        ],
    }
    messages = call_transcript(request, {"content": "It is sunny.", "finish_reason": "stop"})
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[-1].text == "It is sunny."
    assert call_transcript(None, None) is None


def test_secrets_in_stored_bodies_are_redacted_again_on_the_way_out():
    key = "sk-proj-4bS9x0EXAMPLEdoNotUse1234567890abcdEF"
    messages = call_transcript({"messages": [{"role": "user", "content": f"key {key}"}]}, None)
    assert key not in messages[0].text
