"""Format family: does the response have the shape the caller asked for?

* ``json_parse`` (error): when JSON is expected the content must parse. A single wrapping
  ```json fence is tolerated because models add it even in JSON mode and every consumer
  strips it.
* ``json_schema`` (error): the parsed value must satisfy the schema (Draft 2020-12). A
  schema that is itself invalid is the caller's bug, not the model's: it yields an ``info``
  check instead of crashing or failing the response.
* ``markdown_fences`` (error), only when Markdown is expected: a fence never closed turns
  the rest of the document into code. The quality family reports the same fence for any
  answer; here it is also a broken format contract.
* ``markdown_headings`` / ``markdown_lists`` (warning), only when Markdown is expected:
  ``#Title`` (no space) or an empty heading does not render; mixing ``-``/``*``/``+``
  at the same indentation usually means the model lost track of the list.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, SchemaError

from .base import ERROR, FORMAT, INFO, WARNING, Check, ValidationContext, failed, passed

_SINGLE_FENCE = re.compile(r"\A```[ \t]*(?:json|JSON|json5)?[ \t]*\n(.*)\n[ \t]*```\Z", re.S)
_HEADING_NO_SPACE = re.compile(r"^ {0,3}#{1,6}(?=[^\s#])", re.M)
_EMPTY_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]*$", re.M)
_BULLET = re.compile(r"^( *)([-*+])[ \t]+\S", re.M)
_RULE_LINE = re.compile(r"^ *([-*_])(?: *\1){2,} *$", re.M)
MAX_SCHEMA_ERRORS = 3


def unfence_json(text: str) -> str:
    """Remove one ```json fence wrapping the whole text; nested fences are left alone."""
    match = _SINGLE_FENCE.match(text)
    if match and "```" not in match.group(1):
        return match.group(1)
    return text


def parse_json(ctx: ValidationContext) -> tuple[bool, Any, str]:
    """(ok, value, error) for the response as JSON, parsed once per validation."""
    if ctx.parsed_json is None:
        try:
            ctx.parsed_json = (True, json.loads(unfence_json(ctx.stripped)), "")
        except ValueError as exc:
            ctx.parsed_json = (False, None, str(exc))
    return ctx.parsed_json


@lru_cache(maxsize=256)
def _compiled(schema_key: str) -> Draft202012Validator:
    schema = json.loads(schema_key)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _json_path(path: Any) -> str:
    parts = ["$"]
    for item in path:
        parts.append(f"[{item}]" if isinstance(item, int) else f".{item}")
    return "".join(parts)


def compiled_schema(schema: Any) -> Draft202012Validator:
    """A Draft 2020-12 validator for ``schema``; ValueError says why the schema is unusable.

    Cached by the schema's canonical JSON because check_schema and validator construction
    cost more than validating a typical response.
    """
    try:
        return _compiled(json.dumps(schema, sort_keys=True))
    except SchemaError as exc:
        raise ValueError(exc.message) from exc
    except (TypeError, ValueError) as exc:  # not JSON-serialisable
        raise ValueError(str(exc)) from exc


def schema_violations(schema: Any, instance: Any) -> list[str]:
    """Human-readable violations, at most three. Raises ValueError if the schema is broken."""
    validator = compiled_schema(schema)
    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: _json_path(e.absolute_path))
    except Exception as exc:  # unresolvable $ref and friends surface only while validating
        raise ValueError(str(exc)) from exc
    return [f"{_json_path(e.absolute_path)}: {e.message}"[:200] for e in errors[:MAX_SCHEMA_ERRORS]]


def check_json_parse(ctx: ValidationContext) -> Check:
    ok, _, error = parse_json(ctx)
    if not ok:
        return failed("json_parse", FORMAT, ERROR, f"invalid JSON: {error}")
    return passed("json_parse", FORMAT, ERROR)


def check_json_schema(ctx: ValidationContext) -> Check:
    _, value, _ = parse_json(ctx)
    try:
        violations = schema_violations(ctx.schema, value)
    except ValueError as exc:
        return failed("json_schema", FORMAT, INFO, f"invalid JSON Schema: {exc}")
    if violations:
        return failed("json_schema", FORMAT, ERROR, "schema violation: " + "; ".join(violations))
    return passed("json_schema", FORMAT, ERROR)


def check_markdown_fences(ctx: ValidationContext) -> Check:
    if ctx.unclosed_fence is not None:
        msg = f"markdown: the code block opened on line {ctx.unclosed_fence} is never closed"
        return failed("markdown_fences", FORMAT, ERROR, msg)
    return passed("markdown_fences", FORMAT, ERROR)


def check_markdown_headings(ctx: ValidationContext) -> Check:
    problems = []
    if _HEADING_NO_SPACE.search(ctx.prose):
        problems.append("heading without a space after '#'")
    if _EMPTY_HEADING.search(ctx.prose):
        problems.append("empty heading")
    if problems:
        return failed("markdown_headings", FORMAT, WARNING, "markdown: " + ", ".join(problems))
    return passed("markdown_headings", FORMAT, WARNING)


def check_markdown_lists(ctx: ValidationContext) -> Check:
    prose = _RULE_LINE.sub("", ctx.prose) if "- -" in ctx.prose or "* *" in ctx.prose else ctx.prose
    markers: dict[int, set[str]] = {}
    for indent, marker in _BULLET.findall(prose):
        markers.setdefault(len(indent), set()).add(marker)
    mixed = {indent: found for indent, found in markers.items() if len(found) > 1}
    if mixed:
        indent, found = min(mixed.items())
        msg = f"markdown: mixed list markers {sorted(found)} at indentation {indent}"
        return failed("markdown_lists", FORMAT, WARNING, msg)
    return passed("markdown_lists", FORMAT, WARNING)


def format_checks(ctx: ValidationContext) -> list[Check]:
    """Only the checks relevant to the expected format; free text has no format contract."""
    if ctx.expects_json:
        checks = [check_json_parse(ctx)]
        if checks[0].passed and ctx.schema is not None:
            checks.append(check_json_schema(ctx))
        return checks
    if ctx.expected_format == "markdown":
        return [check_markdown_fences(ctx), check_markdown_headings(ctx), check_markdown_lists(ctx)]
    return []
