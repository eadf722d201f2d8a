"""A session's page beyond its totals: the waterfall of its calls and the
conversation they held, step by step, with the feedback each call received.

A call's ``created_at`` is when the gateway started it and ``latency_ms`` how
long it took to the last byte (llm_gateway.manager), so each bar runs from
``created_at`` to ``created_at + latency_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from html import escape
from typing import Any

from django.utils.safestring import SafeString

from calls.models import CallStatus, LLMCall
from dashkit.figures import PALETTE, Span, waterfall
from dashkit.formatting import usd
from llm_gateway.session_selectors import SessionStep
from llm_gateway.transcript import Message, call_transcript
from validation.feedback_selectors import feedback_by_call

STATUS_COLORS = {"ok": PALETTE[1], "error": PALETTE[3], "refused": PALETTE[2]}
_REFUSED = {CallStatus.BLOCKED, CallStatus.RATE_LIMITED, CallStatus.UNAUTHORIZED}
# Rows on the waterfall and calls whose messages the page reads: past these a
# session is a batch job, and its call list (and the explorer) says the rest.
WATERFALL_ROWS = 200
CONVERSATION_CALLS = 100


def _group(call: LLMCall) -> str:
    if call.status == CallStatus.SUCCESS:
        return "ok"
    return "refused" if call.status in _REFUSED else "error"


def _span(index: int, step: SessionStep) -> Span:
    call = step.call
    name = call.step or call.operation
    # Non-breaking spaces: Plotly trims ordinary leading spaces from tick labels.
    indent = "\u00a0\u00a0\u00a0" * step.depth + ("└ " if step.depth else "")
    # Plotly draws hover text as (a little) HTML; step and model names are the agent's.
    hover = (
        f"<b>{escape(name)}</b> · {escape(call.model or call.requested_model)}<br>"
        f"{usd(call.cost)} · {call.latency_ms:,.0f} ms · {call.total_tokens:,} tokens<br>"
        f"{call.status}{' · ' + escape(call.error_type) if call.error_type else ''} · "
        f"{call.created_at.strftime('%H:%M:%S.%f')[:-3]}"
    )
    return Span(
        label=f"{indent}{index}. {escape(name)}",
        start=call.created_at,
        end=call.created_at + timedelta(milliseconds=call.latency_ms),
        group=_group(call),
        hover=hover,
    )


def session_waterfall(steps: list[SessionStep]) -> SafeString:
    """The calls as bars in tree order (children under their parent), coloured by status."""
    spans = [_span(i, step) for i, step in enumerate(steps[:WATERFALL_ROWS], start=1)]
    return waterfall(spans, colors=STATUS_COLORS)


@dataclass(frozen=True)
class StepConversation:
    number: int  # the call's row on the waterfall and in the steps table
    call: LLMCall
    depth: int
    messages: list[Message] | None  # None: the bodies were not stored
    earlier: int  # messages of the request already shown with the step before
    feedback: list[Any]


def _bodies(calls: list[LLMCall]) -> dict[object, tuple[Any, Any]]:
    rows = LLMCall.objects.filter(id__in=[c.id for c in calls]).values_list(
        "id", "request_body", "response_body"
    )
    return {call_id: (request, response) for call_id, request, response in rows}


def session_conversation(steps: list[SessionStep]) -> list[StepConversation]:
    """The first CONVERSATION_CALLS calls in time order, each with only what it
    added: an agent resends the whole history every turn, so a request that
    starts with the previous step's messages shows just its new ones."""
    numbers = {step.call.id: n for n, step in enumerate(steps, start=1)}
    ordered = sorted(steps, key=lambda s: (s.call.created_at, str(s.call.id)))
    ordered = ordered[:CONVERSATION_CALLS]
    bodies = _bodies([s.call for s in ordered])
    feedback = feedback_by_call(call_ids=[s.call.id for s in ordered])
    found: list[StepConversation] = []
    previous: list[Message] = []
    for step in ordered:
        messages = call_transcript(*bodies.get(step.call.id, (None, None)))
        shared = _shared_prefix(previous, messages or [])
        found.append(
            StepConversation(
                number=numbers[step.call.id],
                call=step.call,
                depth=step.depth,
                messages=None if messages is None else messages[shared:],
                earlier=shared,
                feedback=feedback.get(step.call.id, []),
            )
        )
        previous = messages or previous
    return found


def _shared_prefix(before: list[Message], after: list[Message]) -> int:
    count = 0
    for a, b in zip(before, after, strict=False):
        if a != b:
            break
        count += 1
    return count
