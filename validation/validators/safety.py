"""Safety family: content we must not pass through silently.

* ``no_secrets`` (error): API keys, tokens and private keys. A leaked credential is an
  incident, so it invalidates the response. Obvious placeholders (``xxxx``, ``your``,
  ``example``) are ignored because documentation answers are full of them.
* ``no_profanity`` (warning): see :mod:`validation.validators.profanity`.
* ``no_pii`` (warning): e-mail addresses (RFC 2606 example domains excluded), phone numbers
  (international ``+..`` or US ``(555) 123-4567`` shapes; separators are required so years,
  ids and plain numbers do not match) and payment card numbers (13-19 digits, IIN 3-6,
  Luhn-valid).
* ``no_injection_echo`` (warning): the model repeating an injection ("ignore previous
  instructions"), refusing boilerplate, or leaking its system prompt.
"""

from __future__ import annotations

import re

from .base import ERROR, SAFETY, WARNING, Check, ValidationContext, failed, passed
from .profanity import find_profanity

# (label, literals one of which must occur, pattern): the cheap ``in`` test skips the regex
# scan on almost every response, which is what keeps the family well under a millisecond.
_SECRET_PATTERNS = (
    (
        "OpenAI-style API key",
        ("sk-",),
        re.compile(r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}"),
    ),
    ("AWS access key", ("AKIA", "ASIA"), re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{22,})"),
    ),
    ("Slack token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("private key", ("PRIVATE KEY",), re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    ("JWT", ("eyJ",), re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}")),
    (
        "bearer token",
        ("earer", "EARER"),
        re.compile(r"\bbearer\s+[A-Za-z0-9._~+/=-]{20,}", re.IGNORECASE),
    ),
)
_PLACEHOLDER = re.compile(r"xxxx|your|example|placeholder|redacted|\.\.\.", re.I)
_KEY_LIKE = re.compile(r"[A-Z0-9]")

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
_EXAMPLE_DOMAIN = re.compile(
    r"(?:^|\.)(?:example\.(?:com|org|net)|example|test|invalid|localhost)$"
)
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\w)")
_PHONE_US = re.compile(r"(?<![\w(])(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}(?!\w)")
_ALL_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")
_CARD = re.compile(r"(?<![\d-])[3-6]\d(?:[ -]?\d){11,17}(?![\d-])")

_INJECTION_HINTS = ("ignore", "disregard", "language model", "my system", "my initial",
                    "here is my", "here are my", "instructed")  # fmt: skip
_INJECTION_ECHO = re.compile(
    r"\bignore (?:all |any |the )?(?:previous|prior|above|earlier) (?:instructions|prompts)"
    r"|\bdisregard (?:all |any |the )?(?:previous|prior|above) (?:instructions|prompts)"
    r"|\bas an ai language model,? i (?:cannot|can't|can not|am unable|am not able)"
    r"|\bmy (?:system prompt|initial instructions|system instructions) (?:is|are|says|reads)\b"
    r"|\bhere (?:is|are) my (?:system prompt|initial instructions|hidden instructions)"
    r"|\bi was instructed (?:never|not) to reveal",
    re.I,
)


def _mask(value: str) -> str:
    """Never copy a secret into the stored report; four characters identify it enough."""
    return value[:4] + "…"


def _find_secret(text: str) -> tuple[str, str] | None:
    for label, literals, pattern in _SECRET_PATTERNS:
        if not any(literal in text for literal in literals):
            continue
        for match in pattern.finditer(text):
            token = match.group(0)
            if _PLACEHOLDER.search(token) or not _KEY_LIKE.search(token[3:]):
                continue
            return label, token
    return None


def check_no_secrets(ctx: ValidationContext) -> Check:
    found = _find_secret(ctx.stripped)
    if found:
        label, token = found
        return failed(
            "no_secrets", SAFETY, ERROR, f"possible leaked secret: {label} ({_mask(token)})"
        )
    return passed("no_secrets", SAFETY, ERROR)


def check_no_profanity(ctx: ValidationContext) -> Check:
    word = find_profanity(ctx.stripped)
    if word:
        masked = word[0] + "*" * (len(word) - 1)
        return failed("no_profanity", SAFETY, WARNING, f"profanity detected: '{masked}'")
    return passed("no_profanity", SAFETY, WARNING)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _has_card(text: str, masked: str) -> bool:
    if "0" * 13 not in masked and "0000 0000" not in masked and "0000-0000" not in masked:
        return False
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def _has_phone(text: str, masked: str) -> bool:
    if "+0" in masked:
        for match in _PHONE_INTL.finditer(text):
            if 8 <= sum(c.isdigit() for c in match.group(0)) <= 15:
                return True
    if "000-0000" in masked or "000.0000" in masked:
        return bool(_PHONE_US.search(text))
    return False


def _has_email(text: str) -> bool:
    if "@" not in text:
        return False
    return any(not _EXAMPLE_DOMAIN.search(m.group(1).lower()) for m in _EMAIL.finditer(text))


def _pii_kinds(text: str) -> list[str]:
    """Digits are masked to '0' once so literal shape tests ('000-0000') can skip the regexes."""
    masked = text.translate(_ALL_DIGITS_TO_ZERO)
    kinds = []
    if _has_email(text):
        kinds.append("email address")
    if _has_phone(text, masked):
        kinds.append("phone number")
    if _has_card(text, masked):
        kinds.append("payment card number")
    return kinds


def check_no_pii(ctx: ValidationContext) -> Check:
    kinds = _pii_kinds(ctx.stripped)
    if kinds:
        return failed("no_pii", SAFETY, WARNING, "possible PII: " + ", ".join(kinds))
    return passed("no_pii", SAFETY, WARNING)


def check_no_injection_echo(ctx: ValidationContext) -> Check:
    lowered = ctx.lowered
    hinted = any(hint in lowered for hint in _INJECTION_HINTS)
    match = _INJECTION_ECHO.search(ctx.stripped) if hinted else None
    if match:
        msg = f"prompt-injection / system-prompt echo: '{match.group(0)}'"
        return failed("no_injection_echo", SAFETY, WARNING, msg)
    return passed("no_injection_echo", SAFETY, WARNING)


CHECKS = (check_no_secrets, check_no_profanity, check_no_pii, check_no_injection_echo)
