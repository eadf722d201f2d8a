"""Business family: per-agent rules configured by operators (``ValidationRule`` rows).

Rules are data typed by people in the admin, so they can be wrong in ways the form did not
catch (rows edited in SQL, older rows, a schema that references nowhere). A broken rule must
never take validation down with it: it becomes a failed ``info`` check whose message starts
with ``rule misconfigured:`` so the operator sees it, while the response is judged on the
remaining checks. A working rule fails with its own configured severity.

:func:`parse_rule_config` is the single definition of a valid config: the admin form uses
it to reject bad input and the validator uses it before applying a rule.

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
from .format import compiled_schema, parse_json, schema_violations

logger = logging.getLogger(__name__)

# kind -> (required keys, optional keys)
RULE_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "required_terms": (("terms",), ("min_matches",)),
    "forbidden_terms": (("terms",), ()),
    "regex": (("pattern",), ("must_match",)),
    "min_length": (("value",), ()),
    "max_length": (("value",), ()),
    "json_schema": (("schema",), ()),
}
RULE_KINDS = tuple(RULE_KEYS)


class RuleConfigError(ValueError):
    """The rule's config cannot be applied; the message names the offending key."""


def rule_attr(rule: Any, key: str, default: Any = None) -> Any:
    """Rules are model instances in production and plain mappings in tests and scripts."""
    if isinstance(rule, Mapping):
        return rule.get(key, default)
    return getattr(rule, key, default)


@lru_cache(maxsize=1024)
def term_pattern(term: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive; lookarounds so terms like 'C++' or '.NET' still work."""
    return re.compile(rf"(?<!\w){re.escape(term.strip())}(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=512)
def compile_rule_regex(pattern: str) -> re.Pattern[str]:
    """Raises re.error; cached because rules are applied to every response of an agent."""
    return re.compile(pattern)


def _check_keys(kind: str, config: Any) -> Mapping[str, Any]:
    if kind not in RULE_KEYS:
        raise RuleConfigError(f"unknown rule kind {kind!r}")
    if not isinstance(config, Mapping):
        raise RuleConfigError("config must be a JSON object")
    required, optional = RULE_KEYS[kind]
    missing = [key for key in required if key not in config]
    if missing:
        raise RuleConfigError(f"missing key {missing[0]!r} for a {kind} rule")
    unknown = sorted(set(config) - set(required) - set(optional))
    if unknown:
        raise RuleConfigError(f"unknown key {unknown[0]!r} for a {kind} rule")
    return config


def _non_negative_int(config: Mapping[str, Any], key: str) -> int:
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RuleConfigError(f"{key!r} must be a non-negative integer")
    return value


def _parse_terms(config: Mapping[str, Any]) -> tuple[list[str], int]:
    terms = config["terms"]
    if not isinstance(terms, list) or not terms:
        raise RuleConfigError("'terms' must be a non-empty list of strings")
    if not all(isinstance(t, str) and t.strip() for t in terms):
        raise RuleConfigError("'terms' must contain only non-empty strings")
    needed = _non_negative_int(config, "min_matches") if "min_matches" in config else len(terms)
    if not 1 <= needed <= len(terms):
        raise RuleConfigError(f"'min_matches' must be between 1 and {len(terms)}")
    return terms, needed


def _parse_regex(config: Mapping[str, Any]) -> tuple[re.Pattern[str], bool]:
    pattern, must_match = config["pattern"], config.get("must_match", True)
    if not isinstance(pattern, str) or not pattern:
        raise RuleConfigError("'pattern' must be a non-empty string")
    if not isinstance(must_match, bool):
        raise RuleConfigError("'must_match' must be true or false")
    try:
        return compile_rule_regex(pattern), must_match
    except re.error as exc:
        raise RuleConfigError(f"invalid regular expression: {exc}") from exc


def _parse_schema(config: Mapping[str, Any]) -> Any:
    schema = config["schema"]
    if not isinstance(schema, (Mapping, bool)):
        raise RuleConfigError("'schema' must be a JSON object")
    try:
        compiled_schema(schema)
    except ValueError as exc:
        raise RuleConfigError(f"invalid JSON Schema: {exc}") from exc
    return schema


_PARSERS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "required_terms": _parse_terms,
    "forbidden_terms": lambda config: _parse_terms(config)[0],
    "regex": _parse_regex,
    "min_length": lambda config: _non_negative_int(config, "value"),
    "max_length": lambda config: _non_negative_int(config, "value"),
    "json_schema": _parse_schema,
}


def parse_rule_config(kind: str, config: Any) -> Any:
    """The config in the shape the rule needs; RuleConfigError explains what is wrong."""
    checked = _check_keys(kind, config)
    return _PARSERS[kind](checked)


def _required_terms(spec: tuple[list[str], int], ctx: ValidationContext) -> str | None:
    terms, needed = spec
    missing = [t for t in terms if not term_pattern(t).search(ctx.stripped)]
    if len(terms) - len(missing) < needed:
        return f"missing required terms: {', '.join(missing)} (need {needed} of {len(terms)})"
    return None


def _forbidden_terms(terms: list[str], ctx: ValidationContext) -> str | None:
    found = [t for t in terms if term_pattern(t).search(ctx.stripped)]
    return f"forbidden terms present: {', '.join(found)}" if found else None


def _regex(spec: tuple[re.Pattern[str], bool], ctx: ValidationContext) -> str | None:
    pattern, must_match = spec
    if (pattern.search(ctx.stripped) is not None) != must_match:
        return f"{'does not match' if must_match else 'matches'} pattern {pattern.pattern!r}"
    return None


def _min_length(value: int, ctx: ValidationContext) -> str | None:
    size = len(ctx.stripped)
    return f"response is {size} characters, minimum is {value}" if size < value else None


def _max_length(value: int, ctx: ValidationContext) -> str | None:
    size = len(ctx.stripped)
    return f"response is {size} characters, maximum is {value}" if size > value else None


def _json_schema(schema: Any, ctx: ValidationContext) -> str | None:
    ok, value, error = parse_json(ctx)
    if not ok:
        return f"response is not JSON: {error}"
    try:
        violations = schema_violations(schema, value)
    except ValueError as exc:
        raise RuleConfigError(f"invalid JSON Schema: {exc}") from exc
    return "schema violation: " + "; ".join(violations) if violations else None


_APPLIERS: dict[str, Callable[[Any, ValidationContext], str | None]] = {
    "required_terms": _required_terms,
    "forbidden_terms": _forbidden_terms,
    "regex": _regex,
    "min_length": _min_length,
    "max_length": _max_length,
    "json_schema": _json_schema,
}


def _problem(rule: Any, kind: Any, severity: Any, ctx: ValidationContext) -> str | None:
    if not isinstance(kind, str):
        raise RuleConfigError(f"unknown rule kind {kind!r}")
    if severity not in SEVERITIES:
        raise RuleConfigError(f"unknown severity {severity!r}")
    spec = parse_rule_config(kind, rule_attr(rule, "config"))
    return _APPLIERS[kind](spec, ctx)


def apply_rule(rule: Any, ctx: ValidationContext) -> Check:
    """One check per rule; config problems become an info check, never an exception."""
    kind = rule_attr(rule, "kind")
    name = f"rule:{rule_attr(rule, 'name') or kind}"
    severity = rule_attr(rule, "severity") or WARNING
    try:
        problem = _problem(rule, kind, severity, ctx)
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
