"""Read side of validation rules, with a short in-process cache.

Every validated response needs its agent's rules; querying for them each time would add a
round trip to the hot path. Rules change rarely, so each process keeps them for
``RULES_TTL_SECONDS``. Saves and deletes in this process invalidate at once (signals);
other processes pick changes up when their entry expires, which bounds staleness to the TTL
without a shared cache round trip per response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db.models import Q

from common.cache import ProcessCache

RULES_TTL_SECONDS = 5.0

_rules: ProcessCache[tuple] = ProcessCache("validation_rules", ttl=RULES_TTL_SECONDS)


@dataclass(frozen=True, slots=True)
class RuleSnapshot:
    """Detached copy of a ValidationRule: safe to share across threads and requests."""

    name: str
    kind: str
    config: Any
    severity: str


def invalidate_rules_cache() -> None:
    _rules.invalidate()


def _query(agent_name: str) -> tuple[RuleSnapshot, ...]:
    # Only here: the validator runs without Django apps loaded (scripts, benchmarks).
    from validation.models import ValidationRule

    scope = Q(agent_name="") | Q(agent_name=agent_name) if agent_name else Q(agent_name="")
    rows = ValidationRule.objects.filter(scope, enabled=True).order_by("agent_name", "name", "pk")
    return tuple(
        RuleSnapshot(r.name, r.kind, r.config, r.severity)
        for r in rows.only("name", "kind", "config", "severity")
    )


def rules_for_agent(agent_name: str | None) -> tuple[RuleSnapshot, ...]:
    """Enabled rules for ``agent_name`` plus the rules for every agent (blank agent_name)."""
    key = (agent_name or "").strip()
    return _rules.get(key, lambda: _query(key))


arules_for_agent = sync_to_async(rules_for_agent)
