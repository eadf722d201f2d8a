"""How each provider is doing, for the performance page.

One dict per provider: its configuration (never a key value: only the name of
the variable and whether it is set), why it cannot be used if so, its circuit
state, its error rate and median latency over the last 15 minutes of calls,
and a live check that costs nothing (listing models, never a completion).
The live check is cached for ``CHECK_CACHE_SECONDS`` because the page
refreshes itself every few seconds and upstreams rate-limit model listings too.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from calls.models import CallStatus, LLMCall
from common.cache import ProcessCache
from llm_gateway.circuit import breaker
from llm_gateway.interface import LLMProvider
from llm_gateway.provider_registry import environment_provider, providers_from
from llm_gateway.routing import ProviderConfig, aprovider_configs

HEALTH_WINDOW = timedelta(minutes=15)
CHECK_CACHE_SECONDS = 30.0
CHECK_TIMEOUT_SECONDS = 5.0

_checks: ProcessCache[dict[str, Any]] = ProcessCache("provider_checks", ttl=CHECK_CACHE_SECONDS)


def provider_health(*, check: bool = True) -> list[dict[str, Any]]:
    """Every configured provider plus the environment's default one, in routing
    order. For sync views; async code awaits :func:`aprovider_health`."""
    return async_to_sync(aprovider_health)(check=check)


async def aprovider_health(*, check: bool = True) -> list[dict[str, Any]]:
    configs = await aprovider_configs()
    built = {p.name: p for p in providers_from(configs)}
    entries = [_config_entry(c) for c in configs]
    default = environment_provider()
    if default.name in built and default.name not in {c.name for c in configs}:
        entries.append(_environment_entry(default))
    stats = await sync_to_async(recent_call_stats)(names=[e["name"] for e in entries])
    results = await asyncio.gather(
        *(_live_check(built.get(e["name"]), e, enabled=check) for e in entries)
    )
    for entry, result in zip(entries, results, strict=True):
        entry.update(stats.get(entry["name"], _no_calls()))
        entry["circuit"] = breaker.state(entry["name"])
        entry["check"] = result
    return entries


def _config_entry(config: ProviderConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "kind": config.kind,
        "source": "admin",
        "enabled": config.enabled,
        "priority": config.priority,
        "models": list(config.models),
        "base_url": config.base_url,
        "api_key_env": config.api_key_env,
        "configured": config.key_configured,
        "misconfigured": config.misconfigured_reason(),
    }


def _environment_entry(provider: LLMProvider) -> dict[str, Any]:
    has_key = bool(settings.OPENAI_API_KEY)
    return {
        "name": provider.name,
        "kind": provider.kind,
        "source": "environment",
        "enabled": True,
        "priority": None,
        "models": [],  # every model no admin row claims
        "base_url": settings.OPENAI_BASE_URL or "",
        "api_key_env": "OPENAI_API_KEY",
        "configured": has_key,
        "misconfigured": "" if has_key else "OPENAI_API_KEY is not set: the mock provider answers",
    }


def _no_calls() -> dict[str, Any]:
    return {"calls": 0, "errors": 0, "error_rate": None, "p50_latency_ms": None}


def recent_call_stats(*, names: list[str]) -> dict[str, dict[str, Any]]:
    """Calls, errors, error rate and median latency of successful calls, per
    provider, over ``HEALTH_WINDOW``. Failed calls are left out of the median:
    a timeout's latency is the timeout, not the provider's speed."""
    recent = LLMCall.objects.filter(created_at__gte=timezone.now() - HEALTH_WINDOW)
    rows = (
        recent.filter(provider__in=names)
        .values("provider")
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=Q(status=CallStatus.ERROR)),
            successes=Count("id", filter=Q(status=CallStatus.SUCCESS)),
        )
    )
    stats = {}
    for row in rows:
        ok = recent.filter(provider=row["provider"], status=CallStatus.SUCCESS)
        stats[row["provider"]] = {
            "calls": row["calls"],
            "errors": row["errors"],
            "error_rate": round(row["errors"] / row["calls"], 4),
            "p50_latency_ms": _median_latency(ok, row["successes"]),
        }
    return stats


def _median_latency(calls: Any, count: int) -> float | None:
    """The median from the (one or two) middle rows: no full scan into Python."""
    if not count:
        return None
    middle = calls.order_by("latency_ms").values_list("latency_ms", flat=True)
    values = list(middle[(count - 1) // 2 : count // 2 + 1])
    return round(sum(values) / len(values), 1)


async def _live_check(
    provider: LLMProvider | None, entry: dict[str, Any], *, enabled: bool
) -> dict[str, Any]:
    if not enabled:
        return {"status": "skipped", "reason": "not requested"}
    if provider is None:
        reason = "disabled" if not entry["enabled"] else entry["misconfigured"] or "not routed"
        return {"status": "skipped", "reason": reason}
    key = (entry["name"], entry["kind"], entry["base_url"], entry["api_key_env"])
    return await _checks.aget(key, lambda: _run_check(provider))


async def _run_check(provider: LLMProvider) -> dict[str, Any]:
    checked_at = timezone.now().isoformat()
    try:
        raw = await asyncio.wait_for(provider.health_check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return {"status": "failed", "error": "timeout", "checked_at": checked_at}
    if not raw.get("healthy"):
        return {"status": "failed", "error": raw.get("error") or "", "checked_at": checked_at}
    latency = raw.get("latency_ms")
    return {
        "status": "ok",
        "latency_ms": round(latency, 1) if latency is not None else None,
        "checked_at": checked_at,
    }


def clear_health_checks() -> None:
    """Forget cached live checks (tests; or after fixing a provider)."""
    _checks.invalidate()
