"""Entry point of response validation: run the four check families and score the result.

The validator is pure and synchronous so the gateway can run it inline (< 2 ms on 4 kB) or
from a Celery task. When ``rules`` is None and Django is configured, the agent's
configuration is loaded through short in-process caches: its enabled ``ValidationRule`` rows
and its ``ValidationPolicy`` (severity overrides, see :mod:`validation.severity`). An
explicit ``rules`` iterable (possibly empty) bypasses the database entirely, with the
``policy`` given or the built-in defaults; that is what benchmarks and unit tests use.
Scoring is documented in :mod:`validation.scoring`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .request_info import RequestInfo, request_info
from .scoring import is_valid, quality_score
from .severity import DEFAULT_POLICY, SeverityPolicy
from .validators import (
    QUALITY_CHECKS,
    SAFETY_CHECKS,
    Check,
    ValidationContext,
    business_checks,
    check_not_empty,
    format_checks,
)
from .validators.base import BUSINESS, INFO, failed

logger = logging.getLogger(__name__)

EXPECTED_FORMATS = frozenset({"json", "markdown", "text"})


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """What ``ResponseValidator.validate`` returns; ``to_dict`` is the stored JSON shape."""

    is_valid: bool
    quality_score: float
    checks: list[Check] = field(default_factory=list)
    policy: str = DEFAULT_POLICY.name

    @property
    def issues(self) -> list[str]:
        return [c.message for c in self.checks if not c.passed]

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def failed_families(self) -> list[str]:
        """Sorted, unique families with at least one failure (stored to filter cheaply)."""
        return sorted({c.family for c in self.checks if not c.passed})

    def to_dict(self) -> dict[str, Any]:
        return {
            "is_valid": self.is_valid,
            "quality_score": self.quality_score,
            "issues": self.issues,
            "checks": [c.to_dict() for c in self.checks],
            "policy": self.policy,
        }


def _as_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, (dict, list)):
        return json.dumps(content)
    return str(content)


def _expected_format(expected: str | None, schema: Any, info: RequestInfo) -> str | None:
    """An explicit format wins; otherwise a schema or a JSON response_format implies JSON."""
    if isinstance(expected, str) and expected.lower() in EXPECTED_FORMATS:
        return expected.lower()
    if schema is not None or info.wants_json:
        return "json"
    return None


def _django_ready() -> bool:
    try:
        from django.apps import apps
        from django.conf import settings
    except ImportError:
        return False
    return settings.configured and apps.ready


def _load_rules(agent_name: str | None) -> tuple[list[Any], list[Check]]:
    """DB rules for the agent when Django is ready; nothing otherwise (scripts, benchmarks).

    A database outage must not fail the response being validated (this may run inline on
    the gateway's response path), but silently dropping rules would hide it: the failure
    becomes an info check instead.
    """
    if not _django_ready():
        return [], []
    from django.core.exceptions import SynchronousOnlyOperation
    from django.db import DatabaseError

    from .selectors import rules_for_agent

    try:
        return list(rules_for_agent(agent_name)), []
    except (DatabaseError, SynchronousOnlyOperation) as exc:
        logger.warning("validation rules unavailable for %r: %s", agent_name, exc)
        msg = f"business rules could not be loaded ({type(exc).__name__}); rules were skipped"
        return [], [failed("rules_available", BUSINESS, INFO, msg)]


def _load_policy(agent_name: str | None) -> SeverityPolicy:
    """The agent's severity policy; the built-in defaults when it cannot be read, which
    are the strict ones, so an outage never lets a defect through as a warning."""
    if not _django_ready():
        return DEFAULT_POLICY
    from django.core.exceptions import SynchronousOnlyOperation
    from django.db import DatabaseError

    from .policy import severity_policy_for

    try:
        return severity_policy_for(agent_name)
    except (DatabaseError, SynchronousOnlyOperation) as exc:
        logger.warning("validation policy unavailable for %r: %s", agent_name, exc)
        return DEFAULT_POLICY


class ResponseValidator:
    """Stateless; one instance can be shared across threads and calls.

    From async code pass ``rules=await arules_for_agent(agent_name)`` (validation.selectors)
    and ``policy=await aseverity_policy_for(agent_name)`` (validation.policy): loading them
    here would be a synchronous query inside the event loop.
    """

    def validate(
        self,
        content: Any,
        *,
        finish_reason: str | None = None,
        request: Any = None,
        expected_format: str | None = None,
        schema: Any = None,
        agent_name: str | None = None,
        rules: Iterable[Any] | None = None,
        policy: SeverityPolicy | None = None,
    ) -> ValidationReport:
        ctx = self.build_context(content, expected_format, schema, request, finish_reason)
        if rules is None:
            rule_list, load_problems = _load_rules(agent_name)
            policy = policy or _load_policy(agent_name)
        else:
            rule_list, load_problems = list(rules), []
        policy = policy or DEFAULT_POLICY
        checks = policy.apply(self.run_checks(ctx, rule_list)) + load_problems
        return ValidationReport(is_valid(checks), quality_score(checks), checks, policy.name)

    @staticmethod
    def build_context(
        content: Any, expected_format: str | None, schema: Any, request: Any, finish_reason: Any
    ) -> ValidationContext:
        info = request_info(request)
        schema = schema if schema is not None else info.json_schema
        return ValidationContext(
            content=_as_text(content),
            expected_format=_expected_format(expected_format, schema, info),
            schema=schema,
            prompt=info.prompt,
            max_tokens=info.max_tokens,
            finish_reason=finish_reason if isinstance(finish_reason, str) else None,
        )

    @staticmethod
    def run_checks(ctx: ValidationContext, rules: list[Any]) -> list[Check]:
        """An empty response gets only the empty/truncation verdict: other checks would
        just restate the emptiness and pile up penalties for one problem."""
        first = check_not_empty(ctx)
        if not first.passed:
            return [first, QUALITY_CHECKS[0](ctx)]
        checks = [first, *(check(ctx) for check in QUALITY_CHECKS)]
        checks += format_checks(ctx)
        checks += [check(ctx) for check in SAFETY_CHECKS]
        checks += business_checks(rules, ctx)
        return checks
