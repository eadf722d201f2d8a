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

from calls.models import CallStatus, LLMCall
from costs.pricing import call_cost, price_for, price_ledger_fields


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
    *, count: int, days: int, now: datetime, seed: int = 7
) -> Iterator[LLMCall]:
    rng = random.Random(seed)
    weights = [a.weight for a in AGENTS]
    for _ in range(count):
        agent = rng.choices(AGENTS, weights=weights)[0]
        yield _one_call(rng, agent, _when(rng, now, days))


def _one_call(rng: random.Random, agent: AgentProfile, created: datetime) -> LLMCall:
    model = _pick(rng, agent.models)
    prompt = max(20, int(rng.lognormvariate(math.log(agent.prompt_tokens), 0.5)))
    completion = max(5, int(rng.lognormvariate(math.log(agent.completion_tokens), 0.6)))
    cached = int(prompt * rng.choice((0, 0, 0, 0.5, 0.8)))
    latency = rng.lognormvariate(math.log(MEDIAN_LATENCY_MS[model]), 0.45)
    status, error_type, http_status = CallStatus.SUCCESS, "", 200
    if rng.random() < 0.035:
        error_type, http_status = rng.choice(ERRORS)
        status, prompt, completion, cached = CallStatus.ERROR, 0, 0, 0
    price = price_for(model, at=created)
    stream = rng.random() < 0.3
    return LLMCall(
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
