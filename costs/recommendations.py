"""Cost optimisation advice computed from real traffic and the price table.

Every saving is an estimate from the real prices and the traffic actually
seen in the window, scaled to 30 days. Token totals come from rollups; the
checks that need per-call detail (repeated prompts, truncation, failed-call
waste, validation pass rates) read the raw log for the window only, through
chunked iterators or grouped queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from django.urls import reverse

from calls.models import GatewayKey
from costs.call_patterns import (
    pass_rates,
    repeated_prompts,
    truncations,
    wasted_on_failures,
)
from costs.pricing import Price, known_models, price_for
from costs.usage import UsageFilter, UsageTotals, rollups_in

# A cheaper model of the same family that usually does the job for short answers.
CHEAPER_MODEL = {
    "gpt-4o": "gpt-4o-mini",
    "gpt-4.1": "gpt-4.1-mini",
    "gpt-4.1-mini": "gpt-4.1-nano",
    "gpt-5": "gpt-5-mini",
    "o3": "o4-mini",
    "gpt-5-mini": "gpt-5-nano",
    "claude-opus-4-1": "claude-sonnet-4-5",
    "claude-opus-4-5": "claude-sonnet-4-5",
    "claude-sonnet-4-5": "claude-haiku-4-5",
}
SHORT_ANSWER_TOKENS = 300
LOW_CACHE_SHARE = Decimal("0.1")
CACHEABLE_PROMPT_TOKENS = 1024  # OpenAI caches prompts from 1,024 tokens on
ERROR_RATE_LIMIT = 0.05
REPEATED_SHARE = Decimal("0.2")  # a fifth of requests repeating is worth a cache
MIN_CALLS = 20  # below this, a pattern is noise
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Recommendation:
    # "cheaper_model", "prompt_caching", "repeated_prompts", "truncation", "errors",
    # "what_if", "unpriced"
    kind: str
    title: str
    detail: str
    agent: str = ""
    model: str = ""
    monthly_saving: Decimal | None = None
    link: str = ""  # where to act on it (e.g. the admin page of the agent's key)

    def as_dict(self) -> dict[str, object]:
        saving = self.monthly_saving
        return {
            "type": self.kind,
            "title": self.title,
            "description": self.detail,
            "agent": self.agent,
            "model": self.model,
            "estimated_monthly_savings": str(saving) if saving is not None else None,
            "link": self.link,
        }


def recommendations_for(*, start: datetime, end: datetime) -> list[Recommendation]:
    """Advice for the traffic in [start, end), biggest saving first."""
    scale = Decimal(timedelta(days=30) / (end - start))
    rates = pass_rates(start=start, end=end)
    waste = wasted_on_failures(start=start, end=end)
    advice: list[Recommendation] = []
    groups = _by_agent_model(start=start, end=end)
    for (agent, model, provider), totals in groups.items():
        if totals.calls < MIN_CALLS:
            continue
        kind = provider if provider in ("openai", "anthropic") else "openai"
        if found := _cheaper_model(agent, model, kind, totals, scale, rates.get(agent, {})):
            advice.append(found)
        if found := _prompt_caching(agent, model, kind, totals, scale):
            advice.append(found)
        if found := _errors(agent, model, totals, scale, waste.get((agent, model), Decimal(0))):
            advice.append(found)
    advice.extend(_repeated(start=start, end=end, scale=scale))
    advice.extend(_truncated(start=start, end=end, scale=scale))
    advice.extend(_unpriced(start=start, end=end))
    return sorted(advice, key=lambda r: (-(r.monthly_saving or Decimal(0)), r.title))


def recommendations_worth_showing(
    advice: list[Recommendation], *, limit: int = 8, per_kind: int = 3
) -> list[Recommendation]:
    """What a page lists: one row per (kind, agent, model), none that saves
    less than a cent a month, and no more than ``per_kind`` of one kind, so
    seven "answers cut at max_tokens" rows do not hide every other advice."""
    seen: set[tuple[str, str, str]] = set()
    kinds: dict[str, int] = {}
    shown: list[Recommendation] = []
    for item in advice:
        key = (item.kind, item.agent, item.model)
        if key in seen or (item.monthly_saving is not None and item.monthly_saving < _CENT):
            continue
        seen.add(key)
        kinds[item.kind] = kinds.get(item.kind, 0) + 1
        if kinds[item.kind] <= per_kind:
            shown.append(item)
    return shown[:limit]


def _by_agent_model(*, start: datetime, end: datetime) -> dict[tuple, UsageTotals]:
    groups: dict[tuple, UsageTotals] = {}
    for row in rollups_in(start=start, end=end, filters=UsageFilter()).iterator():
        totals = groups.setdefault((row.agent_name, row.model, row.provider), UsageTotals())
        for name in ("calls", "errors", "prompt_tokens", "completion_tokens", "cached_tokens"):
            setattr(totals, name, getattr(totals, name) + getattr(row, name))
        totals.cost += row.cost
        totals.unpriced_calls += row.unpriced_calls
    return groups


def _cheaper_model(
    agent: str,
    model: str,
    kind: str,
    totals: UsageTotals,
    scale: Decimal,
    rates: dict[str, tuple[int, float]],
) -> Recommendation | None:
    """A cheaper model for an agent whose answers are short: among the priced
    models this agent has used, the cheapest one whose validation pass rate is
    at least the current model's; without validation data, the same family's
    smaller model (said so in the advice)."""
    answered = totals.calls - totals.errors
    if not answered or totals.completion_tokens / answered > SHORT_ANSWER_TOKENS:
        return None
    options = _validated_cheaper(model, kind, totals, rates)
    note = "its validation pass rate for this agent is at least as high"
    if not options and (family := CHEAPER_MODEL.get(model)):
        price = price_for(family, provider=kind)
        options = [(family, _cost_at(price, totals))] if price else []
        note = "no validation results compare the two for this agent yet: try it on a share"
    options = [(name, cost) for name, cost in options if cost < totals.cost]
    if not options:
        return None
    cheaper, cost = min(options, key=lambda option: option[1])
    return Recommendation(
        kind="cheaper_model",
        title=f"{agent or 'Unnamed agent'}: try {cheaper} instead of {model}",
        detail=(
            f"Answers average {totals.completion_tokens // answered} tokens over "
            f"{totals.calls} calls; short answers rarely need {model}, and {note}. "
            "Saving: this traffic's token mix at the other model's price."
        ),
        agent=agent,
        model=model,
        monthly_saving=_money((totals.cost - cost) * scale),
    )


def _validated_cheaper(
    model: str, kind: str, totals: UsageTotals, rates: dict[str, tuple[int, float]]
) -> list[tuple[str, Decimal]]:
    current = rates.get(model)
    if current is None:
        return []
    options = []
    for other, (_, rate) in rates.items():
        price = price_for(other, provider=kind)
        if other != model and price is not None and rate >= current[1]:
            options.append((other, _cost_at(price, totals)))
    return options


def _prompt_caching(
    agent: str, model: str, kind: str, totals: UsageTotals, scale: Decimal
) -> Recommendation | None:
    price = price_for(model, provider=kind)
    answered = totals.calls - totals.errors
    if price is None or price.cached_input_per_m is None or not answered:
        return None
    if totals.prompt_tokens / answered < CACHEABLE_PROMPT_TOKENS:
        return None
    if Decimal(totals.cached_tokens) / totals.prompt_tokens >= LOW_CACHE_SHARE:
        return None
    # Assume half of each prompt could be a stable, cacheable prefix.
    per_token = (price.input_per_m - price.cached_input_per_m) / Decimal(1_000_000)
    saving = Decimal(totals.prompt_tokens - totals.cached_tokens) / 2 * per_token * scale
    return Recommendation(
        kind="prompt_caching",
        title=f"{agent or 'Unnamed agent'}: put the stable part of prompts first ({model})",
        detail=(
            f"Prompts average {totals.prompt_tokens // answered} tokens but only "
            f"{totals.cached_tokens * 100 // totals.prompt_tokens}% are served from the "
            "provider's prompt cache. Estimate assumes half of each prompt is reusable."
        ),
        agent=agent,
        model=model,
        monthly_saving=_money(saving),
    )


def _key_admin_link(agent: str) -> str:
    """The admin change page of the agent's newest live key, at the cache mode field."""
    key_id = (
        GatewayKey.objects.filter(agent_name=agent, revoked_at__isnull=True)
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )
    if key_id is None:
        changelist = reverse("admin:llm_gateway_gatewaykey_changelist")
        return f"{changelist}?{urlencode({'q': agent})}"
    return reverse("admin:llm_gateway_gatewaykey_change", args=[key_id]) + "#id_cache_mode"


def _errors(
    agent: str, model: str, totals: UsageTotals, scale: Decimal, wasted: Decimal
) -> Recommendation | None:
    """Failed calls: what was billed for calls that returned nothing usable
    (cut streams, errors after the provider charged), plus how often retried."""
    if totals.error_rate <= ERROR_RATE_LIMIT and wasted <= 0:
        return None
    return Recommendation(
        kind="errors",
        title=f"{agent or 'Unnamed agent'}: {totals.error_rate:.0%} of {model} calls fail",
        detail=(
            f"{totals.errors} failed calls and {totals.retries} retries in the window; "
            f"${wasted:.4f} was billed for calls that returned nothing usable. "
            "Check rate limits, timeouts and client disconnects."
        ),
        agent=agent,
        model=model,
        monthly_saving=_money(wasted * scale),
    )


def _repeated(*, start: datetime, end: datetime, scale: Decimal) -> list[Recommendation]:
    return [
        Recommendation(
            kind="repeated_prompts",
            title=f"{agent or 'Unnamed agent'}: {repeats} repeated identical {model} requests",
            detail=(
                "The same request body was sent again and again; the response cache would "
                'answer the repeats for free: set the cache mode of this agent\'s key to "always". '
                "Saving: the cost of every repeat."
            ),
            agent=agent,
            model=model,
            monthly_saving=_money(cost * scale),
            link=_key_admin_link(agent),
        )
        for (agent, model), (repeats, cost) in repeated_prompts(start=start, end=end).items()
    ]


def _truncated(*, start: datetime, end: datetime, scale: Decimal) -> list[Recommendation]:
    return [
        Recommendation(
            kind="truncation",
            title=f"{agent or 'Unnamed agent'}: {count} {model} answers cut at max_tokens",
            detail=(
                'These answers stopped at the token limit (finish_reason "length") and are '
                "usually retried or thrown away: raise max_tokens or ask for shorter output. "
                "Saving: what the cut answers cost."
            ),
            agent=agent,
            model=model,
            monthly_saving=_money(cost * scale),
        )
        for (agent, model), (count, cost) in truncations(start=start, end=end).items()
    ]


@dataclass(frozen=True)
class WhatIf:
    provider: str
    model: str
    cost: Decimal
    difference: Decimal  # cost minus the actual cost: negative is a saving


def what_if_table(*, start: datetime, end: datetime) -> tuple[Decimal, list[WhatIf]]:
    """The window's real token usage re-priced under every priced model
    (current prices): (actual cost, rows cheapest first)."""
    usage = UsageTotals()
    for row in rollups_in(start=start, end=end).iterator():
        for name in ("prompt_tokens", "completion_tokens", "cached_tokens", "cost"):
            setattr(usage, name, getattr(usage, name) + getattr(row, name))
    rows = []
    for kind in ("openai", "anthropic"):
        for model in sorted(known_models(kind)):
            price = price_for(model, provider=kind)
            if price is not None:
                cost = _money(_cost_at(price, usage))
                rows.append(WhatIf(kind, model, cost, cost - _money(usage.cost)))
    return usage.cost, sorted(rows, key=lambda row: (row.cost, row.model))


def _unpriced(*, start: datetime, end: datetime) -> list[Recommendation]:
    models = {
        row.model
        for row in rollups_in(start=start, end=end).filter(unpriced_calls__gt=0).only("model")
    }
    return [
        Recommendation(
            kind="unpriced",
            title=f"Add a price for {model}",
            detail="Its calls are recorded at cost 0, so spend and budgets undercount.",
            model=model,
        )
        for model in sorted(models)
    ]


def _cost_at(price: Price, totals: UsageTotals) -> Decimal:
    cached = price.cached_input_per_m
    cached_rate = price.input_per_m if cached is None else cached
    micro = (
        (totals.prompt_tokens - totals.cached_tokens) * price.input_per_m
        + totals.cached_tokens * cached_rate
        + totals.completion_tokens * price.output_per_m
    )
    return micro / Decimal(1_000_000)


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)
