"""Credentials in an answer: provider keys, tokens, private keys, passwords in URLs.

Each pattern comes with literals one of which must occur, so the regex scan is skipped on
almost every answer (the cheap ``in`` test keeps the family well under a millisecond).
Documentation answers are full of placeholders (``sk-xxxx``, ``<your key>``, ``...``) and
of key *prefixes* named without a key (``sk_live_``): a match must look like a real key,
which means a body of some length with both letters and digits and no placeholder words.
"""

from __future__ import annotations

import re

_PATTERNS = (
    (
        "OpenAI/Anthropic-style API key",
        ("sk-",),
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d*-)?[A-Za-z0-9_-]{20,}"),
    ),
    (
        "Stripe secret key",
        ("_live_", "_test_", "whsec_"),
        re.compile(r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})"),
    ),
    ("Google API key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_-]{30,}")),
    ("AWS access key", ("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "AWS secret key",
        ("aws_secret", "AWS_SECRET", "SecretAccessKey"),
        re.compile(
            r"(?i:aws_secret_access_key|secretaccesskey)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}"
        ),
    ),
    (
        "GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,})"),
    ),
    ("GitLab token", ("glpat-",), re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}")),
    ("Slack token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    (
        "Slack webhook",
        ("hooks.slack.com",),
        re.compile(r"hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]{16,}"),
    ),
    ("Hugging Face token", ("hf_",), re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    ("SendGrid key", ("SG.",), re.compile(r"\bSG\.[\w-]{16,}\.[\w-]{20,}")),
    ("npm token", ("npm_",), re.compile(r"\bnpm_[A-Za-z0-9]{36}")),
    ("private key", ("PRIVATE KEY",), re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("JWT", ("eyJ",), re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")),
    (
        "bearer token",
        ("earer", "EARER"),
        re.compile(r"\bbearer\s+[A-Za-z0-9._~+/=-]{20,}", re.IGNORECASE),
    ),
    (
        "password in a URL",
        ("://",),
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s:/@]{8,})@[\w.-]+", re.IGNORECASE),
    ),
)
# A value assigned to a credential's name; searched in the lower-cased text (a
# case-insensitive regex costs several times more on a 4 kB answer).
_ASSIGNMENT_HINTS = ("api_key", "api-key", "apikey", "secret", "token", "password")
_ASSIGNMENT = re.compile(
    r"(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|password)"
    r"[\"']?\s*[:=]\s*[\"']?([a-z0-9/+_.~-]{20,})"
)
_PLACEHOLDER = re.compile(
    r"x{4}|X{4}|\*{3}|your|example|placeholder|redacted|dummy|changeme|replace|\.\.\.|<|\$\{|\{\{",
    re.I,
)


_ENV_REFERENCE = re.compile(r"^[A-Z0-9_]+$|env|environ|settings|config|secrets\.", re.I)
GENERIC = ("credential assignment", "password in a URL")


def _looks_real(label: str, token: str) -> bool:
    """Vendor keys need an upper-case letter or a digit in the body (prose and names
    are lower-case words); a value assigned to a name like ``password`` needs letters and
    digits and must not be a reference to an environment variable or a setting."""
    if label == "private key":
        return True
    if _PLACEHOLDER.search(token):
        return False
    if label not in GENERIC:
        return any(c.isdigit() or c.isupper() for c in token[3:])
    has_digit = any(c.isdigit() for c in token)
    return has_digit and any(c.isalpha() for c in token) and not _ENV_REFERENCE.search(token)


def _assigned_secret(text: str, lowered: str) -> str | None:
    if not any(hint in lowered for hint in _ASSIGNMENT_HINTS):
        return None
    aligned = len(text) == len(lowered)  # lower() can change lengths (rare letters)
    for match in _ASSIGNMENT.finditer(lowered):
        token = text[match.start(1) : match.end(1)] if aligned else match.group(1)
        if _looks_real(GENERIC[0], token):
            return token
    return None


def find_secret(text: str, lowered: str) -> tuple[str, str] | None:
    """(label, the matched text) of the first credential found, or None."""
    for label, literals, pattern in _PATTERNS:
        if not any(literal in text for literal in literals):
            continue
        for match in pattern.finditer(text):
            token = match.group(match.lastindex or 0)
            if _looks_real(label, token):
                return label, token
    assigned = _assigned_secret(text, lowered)
    return (GENERIC[0], assigned) if assigned else None


def mask(value: str) -> str:
    """Never copy a secret into the stored report; four characters identify it enough."""
    return value[:4] + "…"
