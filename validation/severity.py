"""Severity policy: how much each failed check counts, per agent.

Every built-in check has a default severity (the catalog below, documented in
docs/validation.md): an ``error`` makes the answer invalid, a ``warning`` only
lowers its score, ``info`` is a note. An operator can raise or lower any check,
or a whole family, for one agent (``ValidationPolicy`` in the admin), or switch
it ``off``. Pure Python so the validator and its benchmark run without Django.

Two kinds of outcome keep their severity whatever the policy says: ``info``
diagnostics about the configuration itself (a broken schema or rule, rules
that could not be loaded), because promoting "your rule is broken" to an error
would blame the model for the operator's typo; and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .validators.base import (
    ERROR,
    FAMILIES,
    FORMAT,
    INFO,
    QUALITY,
    SAFETY,
    SEVERITIES,
    WARNING,
    Check,
)

OFF = "off"
POLICY_SEVERITIES = (*SEVERITIES, OFF)
DEFAULT_POLICY_NAME = "built-in defaults"
PERSONAL_DATA_CHECK = "no_pii"


@dataclass(frozen=True, slots=True)
class CheckInfo:
    family: str
    default: str
    summary: str


CATALOG: dict[str, CheckInfo] = {
    "not_empty": CheckInfo(QUALITY, ERROR, "the answer is empty or only whitespace"),
    "not_truncated": CheckInfo(
        QUALITY,
        ERROR,
        "the provider stopped at its token limit (finish reason `length`/`max_tokens`) "
        "although the caller set no limit; a warning when the caller capped the length",
    ),
    "adequate_length": CheckInfo(
        QUALITY,
        ERROR,
        "a non-answer (`OK.`, `Sure.`, `It depends.`, `See the docs.`) or a few words to a "
        "request for detail; fine when the request asked for a short answer",
    ),
    "no_repetition": CheckInfo(
        QUALITY,
        ERROR,
        "degenerate repetition (the same sentence or item over and over); a warning for "
        "milder repetition",
    ),
    "code_fences_balanced": CheckInfo(QUALITY, ERROR, "a code fence opened and never closed"),
    "complete_ending": CheckInfo(
        QUALITY, ERROR, "the answer stops mid-word or mid-sentence (`… and the`)"
    ),
    "no_refusal_boilerplate": CheckInfo(
        QUALITY, WARNING, "boilerplate such as `As an AI language model, I cannot …`"
    ),
    "json_parse": CheckInfo(FORMAT, ERROR, "JSON was asked for and the answer does not parse"),
    "json_schema": CheckInfo(
        FORMAT,
        ERROR,
        "the JSON breaks the request's schema; `info` when the schema itself is invalid",
    ),
    "markdown_fences": CheckInfo(
        FORMAT, ERROR, "Markdown was asked for and a code fence is never closed"
    ),
    "markdown_headings": CheckInfo(FORMAT, WARNING, "`#Title` with no space, or an empty heading"),
    "markdown_lists": CheckInfo(FORMAT, WARNING, "mixed list markers at one indentation"),
    "no_secrets": CheckInfo(
        SAFETY, ERROR, "API keys and tokens, private keys, bearer tokens, passwords in URLs"
    ),
    "no_profanity": CheckInfo(SAFETY, ERROR, "profanity (filtering is on by default)"),
    "no_pii": CheckInfo(
        SAFETY,
        ERROR,
        "a person's e-mail address, phone number or payment card number; off for agents "
        "whose policy allows personal data",
    ),
    "no_injection_echo": CheckInfo(
        SAFETY,
        ERROR,
        "the answer repeats or obeys an injected instruction, or leaks its system prompt",
    ),
}
RULE_PREFIX = "rule:"


def known_target(target: str) -> bool:
    """A policy may name a check, a family, or one business rule (``rule:<name>``)."""
    return target in CATALOG or target in FAMILIES or target.startswith(RULE_PREFIX)


@dataclass(frozen=True, slots=True)
class SeverityPolicy:
    """Overrides by check name (or ``rule:<name>``), else by family, else the check's own."""

    name: str = DEFAULT_POLICY_NAME
    overrides: Mapping[str, str] = field(default_factory=dict)
    allow_personal_data: bool = False

    def severity_for(self, check: Check) -> str:
        if check.severity == INFO and not check.passed:
            return INFO  # a configuration diagnostic, see the module docstring
        if check.name in self.overrides:
            return self.overrides[check.name]
        if check.name == PERSONAL_DATA_CHECK and self.allow_personal_data:
            return OFF
        return self.overrides.get(check.family, check.severity)

    def apply(self, checks: Iterable[Check]) -> list[Check]:
        """The checks with this policy's severities; those switched off are left out."""
        if not self.overrides and not self.allow_personal_data:
            return list(checks)
        applied = []
        for check in checks:
            severity = self.severity_for(check)
            if severity == OFF:
                continue
            same = severity == check.severity
            applied.append(check if same else replace(check, severity=severity))
        return applied


DEFAULT_POLICY = SeverityPolicy()


def clean_overrides(raw: object) -> dict[str, str]:
    """The overrides as a policy needs them; ValueError names the first bad entry."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("severities must be a JSON object of check or family -> severity")
    cleaned = {}
    for target, severity in raw.items():
        if not isinstance(target, str) or not known_target(target):
            raise ValueError(f"unknown check or family {target!r}")
        if severity not in POLICY_SEVERITIES:
            raise ValueError(f"{target}: severity must be one of {', '.join(POLICY_SEVERITIES)}")
        cleaned[target] = severity
    return cleaned
