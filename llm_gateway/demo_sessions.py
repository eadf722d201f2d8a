"""Sessions in the synthetic history: support conversations and agent runs.

Real traffic is not a stream of lone calls: a support bot answers a customer
over several turns, a research agent plans, calls tools and answers, each step
a call in one trace. The demo draws such sessions so the sessions, users and
request explorer pages have runs to open: session ids (some with slashes, as
real ones have), W3C trace and span ids with parents, step names, end users,
``team=``/``env=``/``feature=`` tags, and chat-style bodies with tool calls and
tool results. Everything is drawn from the caller's random streams, so a seed
gives the same history every time.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from calls.models import CallStatus, LLMCall
from llm_gateway.demo_bodies import chat_exchange

TEAMS = {
    "CTO Agent": "platform",
    "Cloud Architect": "platform",
    "Research Agent": "research",
    "Support Bot": "support",
    "Compliance Agent": "legal",
}
ACCOUNTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark-industries", "wayne-ent")
# (step, the tool its answer calls or None): each step is one call of the run.
RUNS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "Research Agent": (("plan", "web_search"), ("search", "fetch_page"), ("answer", None)),
    "CTO Agent": (("plan", "web_search"), ("answer", None)),
    "Cloud Architect": (("plan", "cost_calculator"), ("estimate", None), ("answer", None)),
}
# How often a call of the agent starts a session rather than standing alone.
SESSION_SHARE = {
    "Support Bot": 0.45,
    "Research Agent": 0.8,
    "CTO Agent": 0.6,
    "Cloud Architect": 0.5,
}
FEATURES = {
    "Support Bot": ("helpdesk", "refunds", "translate"),
    "Research Agent": ("research-brief",),
    "CTO Agent": ("design-review",),
    "Cloud Architect": ("cost-report", "design-review"),
}
QUESTIONS = {
    "Research Agent": "What are the current approaches to long-context retrieval?",
    "CTO Agent": "Should we move our batch jobs from EC2 to Fargate?",
    "Cloud Architect": "What would three environments with shared egress cost per month?",
}
TOOL_ARGUMENTS = {
    "web_search": {"query": "long-context retrieval evaluation 2026"},
    "fetch_page": {"url": "https://example.org/papers/retrieval-survey"},
    "cost_calculator": {"instances": "3x m7g.large", "region": "eu-west-1"},
}
TOOL_RESULTS = {
    "web_search": "1. A survey of retrieval for long contexts (2026). 2. Benchmarks: RULER, "
    "LongBench v2. 3. A blog post comparing chunking strategies.",
    "fetch_page": "The survey groups methods into chunked retrieval, memory tokens and "
    "hybrid attention; RULER is the most cited benchmark.",
    "cost_calculator": '{"monthly_usd": "412.80", "egress_usd": "61.20"}',
}
SUPPORT_TURNS = (
    (
        "I was charged twice for invoice INV-20931.",
        "Sorry about that: I can see two charges. I have asked billing to refund the duplicate.",
    ),
    ("How long will the refund take?", "Refunds reach your card within 5 to 10 working days."),
    (
        "Can you send me a confirmation?",
        "Done: a confirmation is on its way to the address on your account.",
    ),
    ("Thanks, that is all.", "You are welcome. Have a good day!"),
)
# What a step that calls no tool and is not the last one says.
NOTES = {
    "search": "Notes: three families of methods (chunked retrieval, memory tokens, hybrid "
    "attention); RULER and LongBench v2 are the benchmarks to cite.",
    "estimate": "Estimate: about $474 a month, $61 of it egress; NAT gateways dominate.",
}
FINAL_ANSWER = (
    "Short answer: yes, with care. Start with the jobs that run under an hour, measure the "
    "cost for two weeks, then move the rest."
)


@dataclass
class SessionPlan:
    """One session about to be drawn: its ids, owner, labels and steps."""

    agent: str
    session_id: str
    trace_id: str
    end_user: str
    tags: dict[str, str]
    steps: tuple[tuple[str, str | None], ...]
    spans: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def call_tags(rng: random.Random, agent: str) -> dict[str, str]:
    """The labels every call of an agent carries: its team and environment."""
    return {"team": TEAMS.get(agent, "other"), "env": "staging" if rng.random() < 0.12 else "prod"}


def session_plan(rng: random.Random, agent: str) -> SessionPlan | None:
    """A new session for ``agent``, or None for a call that stands alone."""
    if rng.random() >= SESSION_SHARE.get(agent, 0.0):
        return None
    tags = call_tags(rng, agent) | {"feature": rng.choice(FEATURES[agent])}
    if agent == "Support Bot":
        # Customers by a long tail: a few write often.
        user = f"cust-{int(rng.paretovariate(1.2)) % 90:04d}"
        turns = rng.choice((2, 2, 3, 4))
        steps = tuple(("reply", None) for _ in range(turns))
        return SessionPlan(agent, f"conv-{_hex(rng, 10)}", "", user, tags, steps)
    user = rng.choice(ACCOUNTS)
    # Research runs go by path-like ids, as many frameworks name them.
    prefix = "research/" if agent == "Research Agent" else "run-"
    steps = RUNS[agent]
    if agent == "Research Agent" and rng.random() < 0.5:
        steps = (*steps[:2], ("search", None), steps[2], ("review", None))
    return SessionPlan(agent, f"{prefix}{_hex(rng, 10)}", _hex(rng, 32), user, tags, steps)


def session_step_fill(rng: random.Random, call: LLMCall, plan: SessionPlan, index: int) -> None:
    """Attribution of the ``index``-th call of the session: ids, parent, step, user, tags."""
    step, tool = plan.steps[index]
    call.session_id, call.end_user, call.tags, call.step = (
        plan.session_id,
        plan.end_user,
        dict(plan.tags),
        step,
    )
    if not plan.trace_id:
        return
    call.trace_id = plan.trace_id
    call.span_id = _hex(rng, 16)
    plan.spans.append(call.span_id)
    # Every step hangs under the plan; a review checks the answer just before it.
    if index:
        call.parent_id = plan.spans[index - 1] if step == "review" else plan.spans[0]
    if tool and call.status == CallStatus.SUCCESS:
        call.finish_reason = "tool_calls"


def session_bodies(call: LLMCall, plan: SessionPlan, index: int) -> tuple[dict, dict]:
    """(request, response) of a session's step: the conversation so far, redacted."""
    step, tool = plan.steps[index]
    if plan.agent == "Support Bot":
        question, reply = SUPPORT_TURNS[index % len(SUPPORT_TURNS)]
        if not plan.messages:
            plan.messages.append({"role": "system", "content": "You are the Support Bot."})
        plan.messages.append({"role": "user", "content": question})
        answer: dict[str, Any] = {"role": "assistant", "content": reply}
    elif step == "review":
        draft = plan.messages[-1].get("content") or FINAL_ANSWER
        request = [
            {"role": "system", "content": "You review drafts for accuracy."},
            {"role": "user", "content": f"Review this draft:\n{draft}"},
        ]
        return chat_exchange(
            call, request, {"role": "assistant", "content": "Accurate; cite RULER."}
        )
    else:
        if not plan.messages:
            plan.messages += [
                {"role": "system", "content": f"You are the {plan.agent}. Use the tools."},
                {"role": "user", "content": QUESTIONS[plan.agent]},
            ]
        answer = _tool_call(call, index, tool) if tool else {"role": "assistant"}
        answer.setdefault("content", NOTES.get(step, FINAL_ANSWER))
    request, response = chat_exchange(call, list(plan.messages), answer)
    plan.messages.append(answer)
    if tool:
        call_id = answer["tool_calls"][0]["id"]
        plan.messages.append(
            {"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULTS[tool]}
        )
    return request, response


def _tool_call(call: LLMCall, index: int, tool: str) -> dict[str, Any]:
    function = {"name": tool, "arguments": json.dumps(TOOL_ARGUMENTS[tool])}
    tool_call = {"id": f"call_{call.id.hex[:12]}{index}", "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [tool_call]}
