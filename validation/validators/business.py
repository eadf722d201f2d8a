"""Business family: per-agent rules configured by operators (``ValidationRule`` rows).

Rules are data typed by people in the admin, so they can be wrong in ways the form did not
catch (rows edited in SQL, older rows, a schema that references nowhere). A broken rule must
never take validation down with it: it becomes a failed ``info`` check whose message starts
with ``rule misconfigured:`` so the operator sees it, while the response is judged on the
remaining checks. A working rule fails with its own configured severity.

Rule kinds and config:
``required_terms`` ``{"terms": [...], "min_matches": n}`` (default: all terms),
``forbidden_terms`` ``{"terms": [...]}`` (terms match case-insensitively, whole word),
``regex`` ``{"pattern": "...", "must_match": true}``, ``min_length`` / ``max_length``
``{"value": n}`` (characters of the stripped response), ``json_schema`` ``{"schema": {...}}``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from .base import BUSINESS, INFO, SEVERITIES, WARNING, Check, ValidationContext, failed, passed
from .format import parse_json, schema_violations

logger = logging.getLogger(__name__)

RULE_KINDS = ("required_terms", "forbidden_terms", "regex", "min_length", "max_length",
              "json_schema")  # fmt: skip


class RuleConfigError(ValueError):
    """The rule's config cannot be applied; the message says which key is wrong."""


def rule_attr(rule: Any, key: str, default: Any = None) -> Any:
    """Rules are model instances in production and plain mappings in tests and scripts."""
    if isinstance(rule, Mapping):
        return rule.get(key, default)
    return getattr(rule, key, default)


def _config(rule: Any) -> Mapping[str, Any]:
    config = rule_attr(rule, "config")
    if not isinstance(config, Mapping):
        raise RuleConfigError("config must be a JSON object")
    return config


def _terms(config: Mapping[str, Any]) -> list[str]:
    terms = config.get("terms")
    if not isinstance(terms, list) or not terms:
        raise RuleConfigError("'terms' must be a non-empty list of strings")
    if not all(isinstance(t, str) and t.strip() for t in terms):
        raise RuleConfigError("'terms' must contain only non-empty strings")
    return terms


def _int_value(config: Mapping[str, Any], key: str, *, required: bool = True) -> int | None:
    value = config.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuleConfigError(f"'{key}' must be a non-negative integer")
    return value


@lru_cache(maxsize=1024)
def term_pattern(term: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive; lookarounds so terms like 'C++' or '.NET' still work."""
    return re.compile(rf"(?<!\w){re.escape(term.strip())}(?!\w)", re.I)


@lru_cache(maxsize=512)
def compile_rule_regex(pattern: str) -> re.Pattern[str]:
    """Raises re.error; cached because rules are applied to every response of an agent."""
    return re.compile(pattern)


def _required_terms(rule: Any, ctx: ValidationContext) -> str | None:
    config = _config(rule)
    terms = _terms(config)
    needed = _int_value(config, "min_matches", required=False) or len(terms)
    if needed > len(terms):
        raise RuleConfigError(f"'min_matches' ({needed}) exceeds the number of terms")
    missing = [t for t in terms if not term_pattern(t).search(ctx.stripped)]
    if len(terms) - len(missing) < needed:
        return f"missing required terms: {', '.join(missing)} (need {needed} of {len(terms)})"
    return None


def _forbidden_terms(rule: Any, ctx: ValidationContext) -> str | None:
    found = [t for t in _terms(_config(rule)) if term_pattern(t).search(ctx.stripped)]
    return f"forbidden terms present: {', '.join(found)}" if found else None


def _regex(rule: Any, ctx: ValidationContext) -> str | None:
    config = _config(rule)
    pattern = config.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise RuleConfigError("'pattern' must be a non-empty string")
    try:
        matched = compile_rule_regex(pattern).search(ctx.stripped) is not None
    except re.error as exc:
        raise RuleConfigError(f"invalid regular expression: {exc}") from exc
    must_match = config.get("must_match", True)
    if not isinstance(must_match, bool):
        raise RuleConfigError("'must_match' must be true or false")
    if matched != must_match:
        return f"{'does not match' if must_match else 'matches'} pattern {pattern!r}"
    return None


def _min_length(rule: Any, ctx: ValidationContext) -> str | None:
    value = _int_value(_config(rule), "value")
    size = len(ctx.stripped)
    return f"response is {size} characters, minimum is {value}" if size < value else None


def _max_length(rule: Any, ctx: ValidationContext) -> str | None:
    value = _int_value(_config(rule), "value")
    size = len(ctx.stripped)
    return f"response is {size} characters, maximum is {value}" if size > value else None


def _json_schema(rule: Any, ctx: ValidationContext) -> str | None:
    schema = _config(rule).get("schema")
    if not isinstance(schema, (Mapping, bool)):
        raise RuleConfigError("'schema' must be a JSON object")
    ok, value, error = parse_json(ctx)
    try:
        violations = schema_violations(schema, value if ok else None)
    except ValueError as exc:
        raise RuleConfigError(f"invalid JSON Schema: {exc}") from exc
    if not ok:
        return f"response is not JSON: {error}"
    return "schema violation: " + "; ".join(violations) if violations else None


_APPLIERS: dict[str, Callable[[Any, ValidationContext], str | None]] = {
    "required_terms": _required_terms,
    "forbidden_terms": _forbidden_terms,
    "regex": _regex,
    "min_length": _min_length,
    "max_length": _max_length,
    "json_schema": _json_schema,
}


def apply_rule(rule: Any, ctx: ValidationContext) -> Check:
    """One check per rule; config problems become an info check, never an exception."""
    kind = rule_attr(rule, "kind")
    name = f"rule:{rule_attr(rule, 'name') or kind}"
    severity = rule_attr(rule, "severity") or WARNING
    applier = _APPLIERS.get(kind) if isinstance(kind, str) else None
    try:
        if applier is None:
            raise RuleConfigError(f"unknown rule kind {kind!r}")
        if severity not in SEVERITIES:
            raise RuleConfigError(f"unknown severity {severity!r}")
        problem = applier(rule, ctx)
    except RuleConfigError as exc:
        return failed(name, BUSINESS, INFO, f"rule misconfigured: {exc}")
    except Exception as exc:  # a config shape we did not foresee must not stop validation
        logger.exception("validation rule %s crashed", name)
        return failed(name, BUSINESS, INFO, f"rule misconfigured: {type(exc).__name__}: {exc}")
    if problem:
        return failed(name, BUSINESS, severity, problem)
    return passed(name, BUSINESS, severity)


def business_checks(rules: Iterable[Any], ctx: ValidationContext) -> list[Check]:
    return [apply_rule(rule, ctx) for rule in rules]
