"""Entry point of response validation: run the four check families and score the result.

The validator is pure and synchronous so the gateway can run it inline (< 2 ms on 4 kB) or
from a Celery task. When ``rules`` is None and Django is configured, the agent's enabled
``ValidationRule`` rows are loaded through a short in-process cache; an explicit ``rules``
iterable (possibly empty) bypasses the database entirely, which is what benchmarks and unit
tests use. Scoring is documented in :mod:`validation.scoring`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .request_info import RequestInfo, request_info
from .scoring import is_valid, quality_score
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


def _load_rules(agent_name: str | None) -> tuple[list[Any], list[Check]]:
    """DB rules for the agent when Django is ready; nothing otherwise (scripts, benchmarks).

    A database outage must not fail the response being validated (this may run inline on
    the gateway's response path), but silently dropping rules would hide it: the failure
    becomes an info check instead.
    """
    try:
        from django.apps import apps
        from django.conf import settings
    except ImportError:
        return [], []
    if not settings.configured or not apps.ready:
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


class ResponseValidator:
    """Stateless; one instance can be shared across threads and calls.

    From async code pass ``rules=await arules_for_agent(agent_name)`` (validation.selectors):
    loading rules here would be a synchronous query inside the event loop.
    """

    def validate(
        self,
        content: Any,
        *,
        expected_format: str | None = None,
        schema: Any = None,
        agent_name: str | None = None,
        request: Any = None,
        finish_reason: str | None = None,
        rules: Iterable[Any] | None = None,
    ) -> ValidationReport:
        ctx = self.build_context(content, expected_format, schema, request, finish_reason)
        rule_list, load_problems = _load_rules(agent_name) if rules is None else (list(rules), [])
        checks = self.run_checks(ctx, rule_list) + load_problems
        return ValidationReport(is_valid(checks), quality_score(checks), checks)

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
