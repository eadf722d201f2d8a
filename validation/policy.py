"""Per-agent validation policy: severities, personal data, and the retry on a failed answer.

Read for every validated answer, so each process keeps the resolved policy of an agent for
a few seconds (like the rules, validation.selectors): an edit in the admin is seen by every
process within ``CACHE_SECONDS``, and at once by the process that saved it (signals). The
agent's own row wins; the row with a blank agent is the default for everyone else; with
neither, the built-in defaults apply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from common.cache import ProcessCache
from validation.models import ValidationPolicy
from validation.severity import DEFAULT_POLICY, SeverityPolicy, clean_overrides

logger = logging.getLogger(__name__)
CACHE_SECONDS = 5.0
_policies: ProcessCache[ResolvedPolicy] = ProcessCache("validation_policies", ttl=CACHE_SECONDS)


@dataclass(frozen=True, slots=True)
class ResolvedPolicy:
    severity: SeverityPolicy
    retry_model: str | None


_NO_POLICY = ResolvedPolicy(DEFAULT_POLICY, None)


def _snapshot(row: ValidationPolicy) -> ResolvedPolicy:
    try:
        overrides = clean_overrides(row.severities)
    except ValueError as exc:  # a row written around the admin form: keep the defaults
        logger.warning("validation policy %s ignored its severities: %s", row.label, exc)
        overrides = {}
    severity = SeverityPolicy(row.label, overrides, row.allow_personal_data)
    return ResolvedPolicy(severity, row.retry_model or None)


def _query(agent_name: str) -> ResolvedPolicy:
    names = [agent_name, ""] if agent_name else [""]
    rows = {
        row.agent_name: row
        for row in ValidationPolicy.objects.filter(agent_name__in=names, enabled=True)
    }
    row = rows.get(agent_name) or rows.get("")
    return _snapshot(row) if row is not None else _NO_POLICY


def resolved_policy(agent_name: str | None) -> ResolvedPolicy:
    key = (agent_name or "").strip()
    return _policies.get(key, lambda: _query(key))


def severity_policy_for(agent_name: str | None) -> SeverityPolicy:
    """The severities the agent's answers are judged with."""
    return resolved_policy(agent_name).severity


aseverity_policy_for = sync_to_async(severity_policy_for)


async def validation_retry_model(agent_name: str) -> str | None:
    """The model to retry on for this agent, or None when its policy names none."""
    if not agent_name:
        return None
    return (await sync_to_async(resolved_policy)(agent_name)).retry_model


def validation_policy_cache_clear() -> None:
    """Forget every cached policy (ValidationPolicy edits, tests)."""
    _policies.invalidate()
