"""Which providers serve a model, in what order, from the admin's Provider rows.

``LLMManager()`` is built on every request, often inside an async view, so the
rows are kept in memory for a few seconds instead of being queried per call,
and the event loop never runs a query: the synchronous reader only queries
when no loop is running, and ``aprovider_configs`` loads through
``sync_to_async``. Saving or deleting a row drops the cache in this process at
once; other processes see the change within ``PROVIDER_CACHE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from calls.models import Provider, ProviderKind
from common.cache import ProcessCache
from llm_gateway.interface import LLMProvider
from llm_gateway.providers.patterns import serves_model

logger = logging.getLogger(__name__)

# Bounds how stale another process's admin edit may look here.
PROVIDER_CACHE_SECONDS = 5.0
# A misconfigured provider is reported once, then again only this often, so the
# log says it clearly without one line per call.
MISCONFIGURED_WARN_SECONDS = 600.0


@dataclass(frozen=True)
class ProviderConfig:
    """An immutable snapshot of a ``Provider`` row, safe to share between threads."""

    name: str
    kind: str
    base_url: str = ""
    api_version: str = ""
    deployments: dict[str, str] = field(default_factory=dict)
    api_key_env: str = ""
    models: tuple[str, ...] = ()
    priority: int = 100
    enabled: bool = True

    @classmethod
    def from_row(cls, row: Provider) -> ProviderConfig:
        return cls(
            name=row.name,
            kind=row.kind,
            base_url=row.base_url,
            api_version=row.api_version,
            deployments=dict(row.deployments or {}),
            api_key_env=row.api_key_env,
            models=tuple(row.models or ()),
            priority=row.priority,
            enabled=row.enabled,
        )

    def serves(self, model: str) -> bool:
        return serves_model(model, self.models)

    def api_key(self) -> str | None:
        """The key, read now from the environment (None when unset or not needed)."""
        return os.environ.get(self.api_key_env) or None if self.api_key_env else None

    @property
    def key_configured(self) -> bool:
        return not self.api_key_env or bool(os.environ.get(self.api_key_env))

    def misconfigured_reason(self) -> str:
        """Why this provider cannot be used right now ("" when it can)."""
        if self.kind not in ProviderKind.values:
            return f"unknown kind {self.kind!r}"
        if not self.key_configured:
            return f"environment variable {self.api_key_env} is not set"
        if self.kind != ProviderKind.OPENAI_COMPATIBLE and not self.api_key_env:
            return "no API key environment variable is named"
        if self.kind == ProviderKind.AZURE_OPENAI and not (self.base_url and self.api_version):
            return "Azure needs an endpoint and an API version"
        if self.kind == ProviderKind.OPENAI_COMPATIBLE and not self.base_url:
            return "an OpenAI-compatible provider needs a base URL"
        return ""


# --- the in-process cache -------------------------------------------------------


_configs: ProcessCache[tuple[ProviderConfig, ...]] = ProcessCache(
    "provider_configs", ttl=lambda: PROVIDER_CACHE_SECONDS
)
_warned: dict[str, float] = {}


def _load() -> tuple[ProviderConfig, ...]:
    """Query every row (disabled ones too: the health page shows them)."""
    return tuple(
        ProviderConfig.from_row(row) for row in Provider.objects.order_by("priority", "name")
    )


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def provider_configs() -> tuple[ProviderConfig, ...]:
    """All rows, in priority order. Inside an event loop this never queries: it
    answers from the cache (possibly stale, or empty before the first load) and
    ``aprovider_configs`` is the way to refresh it there."""
    fresh, configs = _configs.peek()
    if fresh:
        return configs
    if _in_event_loop():
        return _configs.stale(default=())
    return _configs.get(None, _load)


async def aprovider_configs() -> tuple[ProviderConfig, ...]:
    return await _configs.aget(None, lambda: sync_to_async(_load)())


def invalidate_provider_cache() -> None:
    _configs.invalidate()
    _warned.clear()


@receiver(post_save, sender=Provider, dispatch_uid="routing_provider_saved")
@receiver(post_delete, sender=Provider, dispatch_uid="routing_provider_deleted")
def _provider_changed(**_: Any) -> None:
    # Now, so this process sees its own edit; and again after commit, in case a
    # concurrent request reloaded the old rows between the save and the commit.
    invalidate_provider_cache()
    transaction.on_commit(invalidate_provider_cache)


# --- resolution ---------------------------------------------------------------------


def usable_configs(configs: tuple[ProviderConfig, ...]) -> list[ProviderConfig]:
    """Enabled and correctly configured rows; each skipped one is logged (not every call)."""
    usable = []
    for config in configs:
        if not config.enabled:
            continue
        reason = config.misconfigured_reason()
        if reason:
            _warn_misconfigured(config, reason)
            continue
        usable.append(config)
    return usable


def _warn_misconfigured(config: ProviderConfig, reason: str) -> None:
    now = time.monotonic()
    last = _warned.get(config.name)
    if last is not None and now - last < MISCONFIGURED_WARN_SECONDS:
        return
    _warned[config.name] = now
    # Only the variable's NAME is logged, never its value.
    logger.warning("provider %s is misconfigured and skipped: %s", config.name, reason)


def mark_default(provider: LLMProvider, claimed: list[ProviderConfig]) -> LLMProvider:
    """Mark the environment's provider: it answers only the models that no
    enabled row claims, misconfigured rows included, so a Claude request whose
    Anthropic key is missing fails clearly instead of reaching OpenAI as a 404."""
    provider.routing_excludes = tuple(c.models for c in claimed)  # type: ignore[attr-defined]
    return provider


def _excludes(provider: LLMProvider) -> tuple[tuple[str, ...], ...] | None:
    return getattr(provider, "routing_excludes", None)


def providers_for(model: str, providers: list[LLMProvider]) -> list[LLMProvider]:
    """The providers that serve ``model``, in the given (priority) order.

    Configured providers come first; the environment's default provider only
    gets the models none of them claims, so adding an Anthropic row for
    ``claude-*`` never sends Claude requests to OpenAI on failover.
    """
    claimed = [p for p in providers if _excludes(p) is None and p.serves(model)]
    if claimed:
        return claimed
    return [
        p
        for p in providers
        if (excludes := _excludes(p)) is not None
        and p.serves(model)
        and not any(serves_model(model, patterns) for patterns in excludes)
    ]
