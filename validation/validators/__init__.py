"""Check families. Each module exposes pure functions ``(ValidationContext) -> Check``."""

from __future__ import annotations

from .base import FAMILIES, SEVERITIES, Check, ValidationContext
from .business import RULE_KINDS, RuleConfigError, apply_rule, business_checks
from .format import format_checks
from .quality import CHECKS as QUALITY_CHECKS
from .quality import check_not_empty
from .safety import CHECKS as SAFETY_CHECKS

__all__ = [
    "FAMILIES",
    "QUALITY_CHECKS",
    "RULE_KINDS",
    "SAFETY_CHECKS",
    "SEVERITIES",
    "Check",
    "RuleConfigError",
    "ValidationContext",
    "apply_rule",
    "business_checks",
    "check_not_empty",
    "format_checks",
]
