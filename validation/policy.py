"""Per-agent policy on failed validation: retry once with a stronger model.

Read on the gateway's path only after an answer failed validation, so the
lookup (cached a few seconds per process) costs nothing on valid answers.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async

from common.cache import ProcessCache
from validation.models import ValidationPolicy

CACHE_SECONDS = 5.0
_policies: ProcessCache[str | None] = ProcessCache("validation_policies", ttl=CACHE_SECONDS)


def _load(agent_name: str) -> str | None:
    policy = ValidationPolicy.objects.filter(agent_name=agent_name, enabled=True).first()
    return policy.retry_model if policy else None


async def validation_retry_model(agent_name: str) -> str | None:
    """The model to retry on for this agent, or None when there is no policy."""
    if not agent_name:
        return None
    return await _policies.aget(agent_name, lambda: sync_to_async(_load)(agent_name))


def validation_policy_cache_clear() -> None:
    _policies.invalidate()
