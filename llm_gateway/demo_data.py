"""Synthetic call history, so dashboards and benchmarks have something to show.

The shape follows real agent traffic: a few agents with different habits,
mostly small models, business-hours peaks, a few percent of errors and
retries, and costs computed from the real price table (never made up).
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from calls.models import CallStatus, LLMCall
from costs.pricing import call_cost, price_for, price_ledger_fields
from llm_gateway.demo_bodies import demo_bodies
from llm_gateway.demo_sessions import call_tags, session_bodies, session_plan, session_step_fill


@dataclass(frozen=True)
class AgentProfile:
    name: str
    weight: float
    models: tuple[tuple[str, float], ...]
    prompt_tokens: int
    completion_tokens: int


AGENTS = (
    AgentProfile("CTO Agent", 3, (("gpt-4o", 0.6), ("gpt-4.1", 0.4)), 1800, 600),
    AgentProfile("Cloud Architect", 4, (("gpt-4o-mini", 0.5), ("gpt-4.1-mini", 0.5)), 2400, 700),
    AgentProfile("Research Agent", 2, (("o4-mini", 0.5), ("gpt-4o", 0.5)), 5200, 1200),
    AgentProfile("Support Bot", 8, (("gpt-4o-mini", 0.9), ("gpt-4.1-nano", 0.1)), 600, 150),
    AgentProfile("Compliance Agent", 1, (("gpt-4.1", 0.7), ("gpt-4o-mini", 0.3)), 3000, 400),
)
MEDIAN_LATENCY_MS = {
    "gpt-4o": 1400,
    "gpt-4.1": 1600,
    "gpt-4o-mini": 700,
    "gpt-4.1-mini": 800,
    "gpt-4.1-nano": 450,
    "o4-mini": 3800,
}
ERRORS = (("LLMRateLimitError", 429), ("LLMProviderError", 500), ("LLMTimeoutError", 504))
ERROR_MESSAGES = {
    "LLMRateLimitError": "Rate limit reached for requests per minute; retry after 20 s.",
    "LLMProviderError": "The upstream answered 500 Internal Server Error.",
    "LLMTimeoutError": "No answer from the provider within 60 s.",
}


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o[0] for o in options], weights=[o[1] for o in options])[0]


def _when(rng: random.Random, now: datetime, days: int) -> datetime:
    """A time in the window, denser on weekdays and working hours (UTC)."""
    while True:
        moment = now - timedelta(seconds=rng.uniform(0, days * 86400))
        busy = 1.0 if 8 <= moment.hour < 19 else 0.35
        busy *= 0.45 if moment.weekday() >= 5 else 1.0
        if rng.random() < busy:
            return moment


def demo_calls_generate(
    *,
    count: int,
    days: int,
    now: datetime,
    seed: int = 7,
    bodies: bool = False,
    keys: dict[str, tuple[int, str]] | None = None,
) -> Iterator[LLMCall]:
    """``count`` calls over ``days``, many of them in sessions (llm_gateway.demo_sessions).
    ``bodies`` stores redacted request and response bodies; ``keys`` maps an
    agent to its gateway key (id, prefix), which its API calls then carry. Both
    draw from a second random stream, so the calls themselves do not change
    with them."""
    rng = random.Random(seed)
    extra = random.Random(seed + 1)
    sessions = random.Random(seed + 3)
    weights = [a.weight for a in AGENTS]
    made = 0
    while made < count:
        agent = rng.choices(AGENTS, weights=weights)[0]
        at = _when(rng, now, days)
        plan = session_plan(sessions, agent.name)
        for index in range(min(len(plan.steps) if plan else 1, count - made)):
            if at > now:
                break  # a session started just now has not finished yet
            call = _one_call(rng, agent, at)
            call.tags = call_tags(sessions, agent.name)
            if plan is not None:
                session_step_fill(sessions, call, plan, index)
            _cache_hit(extra, call)
            if bodies:
                call.request_body, call.response_body = (
                    session_bodies(call, plan, index) if plan else demo_bodies(extra, call)
                )
            if keys and call.source == "api" and agent.name in keys:
                call.gateway_key_id, call.key_prefix = keys[agent.name]
            made += 1
            yield call
            # The next step starts once this one has answered and the agent has thought.
            at = call.created_at + timedelta(
                milliseconds=call.latency_ms + sessions.uniform(150, 900)
            )
            if agent.name == "Support Bot":
                at += timedelta(seconds=sessions.uniform(20, 240))  # the customer types


CACHE_HIT_SHARE = 0.06


def _cache_hit(rng: random.Random, call: LLMCall) -> None:
    """Some repeated questions are answered from the response cache: no provider
    call, cost 0, the stored answer's price counted as saved (as the gateway does)."""
    if call.status != CallStatus.SUCCESS or rng.random() >= CACHE_HIT_SHARE:
        return
    call.cache_hit, call.saved_cost, call.cost = True, call.cost, Decimal(0)
    call.latency_ms = round(rng.uniform(2, 12), 1)
    call.ttft_ms = call.latency_ms if call.stream else None
    call.retries = 0


def _one_call(rng: random.Random, agent: AgentProfile, created: datetime) -> LLMCall:
    model = _pick(rng, agent.models)
    prompt = max(20, int(rng.lognormvariate(math.log(agent.prompt_tokens), 0.5)))
    completion = max(5, int(rng.lognormvariate(math.log(agent.completion_tokens), 0.6)))
    cached = int(prompt * rng.choice((0, 0, 0, 0.5, 0.8)))
    latency = rng.lognormvariate(math.log(MEDIAN_LATENCY_MS[model]), 0.45)
    status, error_type, http_status, error_message = CallStatus.SUCCESS, "", 200, ""
    if rng.random() < 0.035:
        error_type, http_status = rng.choice(ERRORS)
        status, prompt, completion, cached = CallStatus.ERROR, 0, 0, 0
        error_message = ERROR_MESSAGES[error_type]
    price = price_for(model, at=created)
    stream = rng.random() < 0.3
    call = LLMCall(
        id=uuid.UUID(int=rng.getrandbits(128), version=4),
        created_at=created,
        recorded_at=created + timedelta(milliseconds=latency),
        agent_name=agent.name,
        source=rng.choice(("api", "api", "python")),
        provider="openai",
        provider_kind="openai",
        requested_model=model,
        model=model,
        stream=stream,
        status=status,
        error_type=error_type,
        error_message=error_message,
        http_status=http_status,
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cached_tokens=cached,
        cost=call_cost(
            price, prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached
        ),
        priced=price is not None,
        **price_ledger_fields(price),
        latency_ms=round(latency, 1),
        ttft_ms=round(latency * rng.uniform(0.15, 0.35), 1) if stream else None,
        retries=rng.choices((0, 1, 2), weights=(94, 5, 1))[0],
        finish_reason=""
        if status != CallStatus.SUCCESS
        else rng.choices(("stop", "length"), weights=(96, 4))[0],
        metadata={"synthetic": True},
    )
    if call.source == "python":
        call.http_status = None  # the in-process API answers no HTTP request
    return call
