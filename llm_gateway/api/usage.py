"""Reads behind the key-facing endpoints: its own usage, its budgets, the model list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Count, Sum
from django.utils import timezone

from calls.models import LLMCall
from common.cache import ProcessCache
from costs.pricing import known_models
from costs.selectors import budget_status_json, budget_statuses_for_key
from llm_gateway.provider_registry import adefault_providers
from llm_gateway.providers.mock_operations import model_known
from llm_gateway.routing import providers_for

PERIODS = ("daily", "weekly", "monthly")


def period_start(period: str, now: datetime) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "weekly":
        return day - timedelta(days=day.weekday())
    if period == "monthly":
        return day.replace(day=1)
    return day


def _key_usage(key_id: int, period: str) -> dict[str, Any]:
    now = timezone.now()
    start = period_start(period, now)
    calls = LLMCall.objects.filter(gateway_key_id=key_id, created_at__gte=start)
    by_model = (
        calls.values("model")
        .annotate(calls=Count("id"), tokens=Sum("total_tokens"), cost=Sum("cost"))
        .order_by("model")
    )
    total = calls.aggregate(
        calls=Count("id"),
        prompt=Sum("prompt_tokens"),
        completion=Sum("completion_tokens"),
        cost=Sum("cost"),
    )
    return {
        "object": "usage",
        "period": period,
        "start": start.isoformat(),
        "end": now.isoformat(),
        "calls": total["calls"],
        "prompt_tokens": total["prompt"] or 0,
        "completion_tokens": total["completion"] or 0,
        # Money travels as a string: JSON numbers are floats in most clients.
        "cost_usd": str(total["cost"] or Decimal("0")),
        "by_model": [
            {
                "model": row["model"],
                "calls": row["calls"],
                "total_tokens": row["tokens"] or 0,
                "cost_usd": str(row["cost"] or Decimal("0")),
            }
            for row in by_model
        ],
    }


async def key_usage(*, key_id: int, period: str) -> dict[str, Any]:
    return await sync_to_async(_key_usage)(key_id, period)


def _key_budgets(agent_name: str, key_prefix: str) -> list[dict[str, Any]]:
    statuses = budget_statuses_for_key(agent_name=agent_name, key_prefix=key_prefix)
    return [budget_status_json(status) for status in statuses]


async def key_budgets(*, agent_name: str, key_prefix: str) -> list[dict[str, Any]]:
    """Budgets that apply to this key (global, its agent's, its own), with spend,
    reservations, remaining and forecast; money as strings."""
    return await sync_to_async(_key_budgets)(agent_name, key_prefix)


async def model_list() -> list[dict[str, Any]]:
    """The models some route can serve: each provider's priced and listed models
    that routing would actually send to it (an Anthropic price with no Anthropic
    provider is not a model this gateway serves)."""
    providers = await adefault_providers()
    served: set[str] = set()
    for provider in providers:
        candidates = set(await provider.list_models())
        for kind in _price_kinds(provider):
            candidates |= await sync_to_async(known_models)(kind)
        served |= {
            name
            for name in candidates
            if provider in providers_for(name, providers) and _answers(provider, name)
        }
    created = int(timezone.now().timestamp())
    return [
        {"id": name, "object": "model", "created": created, "owned_by": "llm-gateway"}
        for name in sorted(served)
    ]


def _price_kinds(provider: Any) -> tuple[str, ...]:
    # The mock (the demo) stands in for OpenAI and Anthropic alike.
    return ("openai", "anthropic") if provider.kind == "mock" else (provider.kind,)


def _answers(provider: Any, name: str) -> bool:
    return provider.kind != "mock" or model_known(name, provider.default_model)


MODEL_LIST_SECONDS = 60.0
# Every provider is asked: the list is reread at most once a minute.
_model_list_cache: ProcessCache[list[dict[str, Any]]] = ProcessCache(
    "model_list", ttl=lambda: MODEL_LIST_SECONDS
)


async def model_list_cached() -> list[dict[str, Any]]:
    """``model_list``, reread at most once a minute: it asks every provider."""
    return await _model_list_cache.aget("all", model_list)


def model_list_forget() -> None:
    _model_list_cache.invalidate()
