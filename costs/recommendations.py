"""Cost optimisation advice computed from rollups and the price table.

Every saving is an estimate from the real prices and the traffic actually
seen, scaled to 30 days; advice with no saving attached says so instead of
inventing one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from django.urls import reverse

from costs.pricing import Price, price_for
from costs.selectors import UsageFilter, UsageTotals, rollups_in

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
    kind: str  # "cheaper_model", "prompt_caching", "repeated_prompts", "errors", "unpriced"
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
    advice: list[Recommendation] = []
    groups = _by_agent_model(start=start, end=end)
    for (agent, model, provider), totals in groups.items():
        if totals.calls < MIN_CALLS:
            continue
        kind = provider if provider in ("openai", "anthropic") else "openai"
        for check in (_cheaper_model, _prompt_caching, _errors):
            if found := check(agent, model, kind, totals, scale):
                advice.append(found)
    advice.extend(_repeated_prompts(start=start, end=end, groups=groups, scale=scale))
    advice.extend(_unpriced(start=start, end=end))
    return sorted(advice, key=lambda r: (-(r.monthly_saving or Decimal(0)), r.title))


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
    agent: str, model: str, kind: str, totals: UsageTotals, scale: Decimal
) -> Recommendation | None:
    cheaper = CHEAPER_MODEL.get(model)
    answered = totals.calls - totals.errors
    if not cheaper or not answered or totals.completion_tokens / answered > SHORT_ANSWER_TOKENS:
        return None
    now_price, cheap_price = price_for(model, provider=kind), price_for(cheaper, provider=kind)
    if now_price is None or cheap_price is None:
        return None
    saving = (totals.cost - _cost_at(cheap_price, totals)) * scale
    if saving <= 0:
        return None
    return Recommendation(
        kind="cheaper_model",
        title=f"{agent or 'Unnamed agent'}: try {cheaper} instead of {model}",
        detail=(
            f"Answers average {totals.completion_tokens // answered} tokens over "
            f"{totals.calls} calls; short answers rarely need {model}."
        ),
        agent=agent,
        model=model,
        monthly_saving=_money(saving),
    )


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


def _repeated_prompts(
    *, start: datetime, end: datetime, groups: dict[tuple, UsageTotals], scale: Decimal
) -> list[Recommendation]:
    """Agents that send the same request again and again: the response cache
    would answer the repeats for free. Deterministic requests are cached
    already, so what repeats here is sampled traffic (or a key set to "never")."""
    from llm_gateway.cache_selectors import repeated_request_shares

    cost: dict[str, Decimal] = defaultdict(Decimal)
    for (agent, _model, _provider), totals in groups.items():
        cost[agent] += totals.cost
    advice = []
    for agent, (repeats, sampled) in repeated_request_shares(start=start, end=end).items():
        share = Decimal(repeats) / sampled if sampled else Decimal(0)
        if sampled < MIN_CALLS or share < REPEATED_SHARE:
            continue
        advice.append(
            Recommendation(
                kind="repeated_prompts",
                title=f"{agent or 'Unnamed agent'}: {share:.0%} of requests repeat an earlier one",
                detail=(
                    f"{repeats} of {sampled} recent requests were identical to an earlier one "
                    "and were sent to the provider again. If a repeated answer is acceptable, "
                    'set the cache mode of this agent\'s key to "always".'
                ),
                agent=agent,
                monthly_saving=_money(cost[agent] * share * scale),
                link=_key_admin_link(agent),
            )
        )
    return advice


def _key_admin_link(agent: str) -> str:
    """The admin change page of the agent's newest live key, at the cache mode field."""
    from llm_gateway.models import GatewayKey

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
    agent: str, model: str, kind: str, totals: UsageTotals, scale: Decimal
) -> Recommendation | None:
    if totals.error_rate <= ERROR_RATE_LIMIT:
        return None
    return Recommendation(
        kind="errors",
        title=f"{agent or 'Unnamed agent'}: {totals.error_rate:.0%} of {model} calls fail",
        detail="Failed calls waste retries and latency; check rate limits and timeouts.",
        agent=agent,
        model=model,
    )


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
