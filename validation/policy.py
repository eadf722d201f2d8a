"""Per-agent policy on failed validation: retry once with a stronger model.

Read on the gateway's path only after an answer failed validation, so the
lookup (cached a few seconds per process) costs nothing on valid answers.
"""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async

from validation.models import ValidationPolicy

CACHE_SECONDS = 5.0
_cache: dict[str, tuple[float, str | None]] = {}


def _load(agent_name: str) -> str | None:
    policy = ValidationPolicy.objects.filter(agent_name=agent_name, enabled=True).first()
    return policy.retry_model if policy else None


async def validation_retry_model(agent_name: str) -> str | None:
    """The model to retry on for this agent, or None when there is no policy."""
    if not agent_name:
        return None
    hit = _cache.get(agent_name)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    model = await sync_to_async(_load)(agent_name)
    _cache[agent_name] = (time.monotonic(), model)
    return model


def validation_policy_cache_clear() -> None:
    _cache.clear()
