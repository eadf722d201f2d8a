"""Remove secrets from anything the gateway stores or logs.

Applied to request/response bodies and error messages before they reach the
database, so a key pasted into a prompt (or echoed by a model) is not kept.
"""

from __future__ import annotations

import functools
import re
from typing import Any

REDACTED = "[REDACTED]"

# Each pattern with a literal it cannot match without: a string is scanned only
# by the patterns whose literal it holds (a model name's digits used to send it
# through all nine, when only the card pattern can match digits).
_PATTERNS = [
    (
        "-----BEGIN",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    ),
    # A truncated or re-wrapped key (a model echoing half of it): the header and
    # whatever base64 follows it.
    (
        "-----BEGIN",
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s]*(?:-----END[A-Z ]*-*)?"),
    ),
    ("sk-", re.compile(r"\bsk-(?:proj-|ant-|svcacct-)?[A-Za-z0-9_\-]{16,}")),
    ("gw_", re.compile(r"\bgw_[A-Za-z0-9]{6,}_[A-Za-z0-9_\-]{16,}")),  # our own gateway keys
    ("bearer", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]{12,}=*")),  # any case: see below
    ("AKIA", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
    ("_", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    ("xox", re.compile(r"\bxox[abpors]-[A-Za-z0-9\-]{10,}")),
    ("eyJ", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),  # JWT
]
_CARD = re.compile(r"\b(?:\d[ -]?){13,19}\b")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return REDACTED if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def unstorable(text: str) -> bool:
    """Whether ``text`` holds a character PostgreSQL text cannot (NUL, a lone surrogate)."""
    return _UNSTORABLE.search(text) is not None


_GITHUB = re.compile(r"gh[pousr]_")
_DIGIT = re.compile(r"\d")


def _may_hold_secret(text: str) -> bool:
    """False only when no pattern can match: each needs one of these literals.
    Most stored text holds none, and nine regex scans per string (bodies,
    metadata) were ~35 µs for a short prompt, a few per cent of a call's CPU."""
    return (
        "-----BEGIN" in text
        or "sk-" in text
        or "gw_" in text
        or "AKIA" in text
        or "xox" in text
        or "eyJ" in text
        or ("gh" in text and _GITHUB.search(text) is not None)
        or "bearer" in text.lower()
        or _DIGIT.search(text) is not None
    )


def redact_text(text: str) -> str:
    if not _may_hold_secret(text):
        return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text
    lowered = text.lower()  # "bearer" is matched in any case
    for literal, pattern in _PATTERNS:
        if literal in (lowered if literal == "bearer" else text):
            text = pattern.sub(REDACTED, text)
    if _DIGIT.search(text) is not None:
        text = _CARD.sub(_card, text)
    # PostgreSQL text and jsonb cannot hold NUL, nor a lone UTF-16 surrogate (JSON
    # may escape one: "\ud800"): one in a prompt made the record unwritable after
    # the provider had answered and been paid. Found by fuzzing.
    if _UNSTORABLE.search(text):
        text = _UNSTORABLE.sub("\ufffd", text)
    return text


@functools.lru_cache(maxsize=4096)
def _redact_key(key: str) -> str:
    """Keys are a body's structure ("role", "content", "usage"…): the same few in
    every call, two thirds of its strings. Remembered, not rescanned each time."""
    return redact_text(key)


def redact(value: Any) -> Any:
    """Redact every string inside a JSON-like value (keys too), keeping its shape."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {_redact_key(str(k)): redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
