"""Safety family: content we must not pass through. Default severities: validation.severity.

* ``no_secrets``: API keys, tokens, private keys, passwords (:mod:`.secrets`). A leaked
  credential is an incident; the report masks it.
* ``no_profanity``: see :mod:`.profanity`.
* ``no_pii``: a person's e-mail, phone, card or account number (:mod:`.personal_data`).
* ``no_injection_echo``: the model repeating or obeying an injected instruction ("ignore
  all previous instructions", "as the document told me to") or leaking its system prompt.
  Phrases about *other* things ("ignore the first row", "disregard the previous snapshot")
  do not match: the object must be instructions, prompts or rules. An answer that quotes
  such a phrase while explaining prompt injection is discussing it, not echoing it.
"""

from __future__ import annotations

import re

from .base import ERROR, SAFETY, Check, ValidationContext, failed, passed
from .personal_data import luhn_valid, personal_data_kinds
from .profanity import find_profanity
from .secrets import find_secret, mask

__all__ = ["CHECKS", "luhn_valid"]

# (literals one of which must occur, pattern): searched in the lower-cased text, where a
# regex without IGNORECASE is several times faster, and only when a literal is present.
# Who the instructions belong to, or which ones: "all previous", "your", "the above",
# "prior". "The previous rules about parking" is advice to a person, not an injection.
_QUALIFIER = (
    r"(?:(?:all|any|every)\s+(?:of\s+)?(?:the\s+|your\s+|my\s+)?(?:\w+\s+)?"
    r"|(?:your|my|its)\s+(?:\w+\s+)?|the\s+(?=above|system|original|initial)"
    r"|(?=previous|prior|above|earlier|preceding|system))"
    r"(?:previous|prior|above|earlier|preceding|original|initial|system|safety)?"
)
_INJECTION = (
    (
        ("ignor", "disregard", "forget", "overrid", "bypass", "discard"),
        re.compile(
            r"\b(?:ignore|ignoring|disregard|disregarding|forget|override|overriding|bypass"
            rf"|discard)\s+{_QUALIFIER}\s*(?:\w+\s+)?(?:instructions?|prompts?|rules|directions"
            r"|guidelines|guardrails|constraints|directives|programming|policies|restrictions)\b"
        ),
    ),
    (
        ("developer mode", "jailbreak mode", "dan mode", "god mode"),
        re.compile(r"\b(?:developer|jailbreak|dan|god) mode (?:is )?(?:enabled|activated|on)\b"),
    ),
    (
        ("as instructed", "as requested", "as told", "as directed", " me to"),
        re.compile(
            r"\bas (?:instructed|requested|told|directed) (?:by|in) the (?:\w+ ){0,2}(?:document"
            r"|file|e-?mail|attachment|note|comment|text|page|website|message|pdf|ticket|review)"
            r"|\bthe (?:\w+ ){0,2}(?:document|file|e-?mail|attachment|note|comment|page|message"
            r"|pdf) (?:told|instructed|asked|directed|ordered) me to\b"
        ),
    ),
    (
        ("system prompt", "system message", "instructions", "my prompt"),
        re.compile(
            r"\bhere (?:is|are) (?:my|the) (?:\w+ ){0,2}(?:system prompt|system message|system"
            r" instructions|instructions i (?:was|have been) given|initial instructions|hidden"
            r" instructions|original instructions)"
            r"|\bmy (?:system prompt|system message|prompt|(?:system|initial|hidden|original"
            r"|secret) instructions) (?:is|are|says|say|reads|read|state|states|were|was)\b"
            r"|\b(?:system prompt|system message)\s*(?:is|was)?\s*[:=]"
        ),
    ),
    (
        ("i was ", "i am ", "i have been "),
        re.compile(
            r"\bi (?:was|have been|am) (?:instructed|programmed|configured) (?:not |never )?to\b"
        ),
    ),
)
# A system prompt quoted back: case matters ("You are LexiBot, the ..." names a persona).
_PERSONA_HINTS = ('"you are', "'you are", "\u201cyou are")
_PERSONA = re.compile(r"(?:^|[\"'\u201c])You are [A-Z][\w-]*, (?:an?|the) ")
_DISCUSSION = ("injection", "jailbreak", "attacker", "malicious", "adversarial")
_QUOTES = "\"'`\u201c\u201d"


def check_no_secrets(ctx: ValidationContext) -> Check:
    found = find_secret(ctx.stripped, ctx.lowered)
    if found:
        label, token = found
        msg = f"possible leaked secret: {label} ({mask(token)})"
        return failed("no_secrets", SAFETY, ERROR, msg)
    return passed("no_secrets", SAFETY, ERROR)


def check_no_profanity(ctx: ValidationContext) -> Check:
    word = find_profanity(ctx.stripped)
    if word:
        masked = word[0] + "*" * (len(word) - 1)
        return failed("no_profanity", SAFETY, ERROR, f"profanity detected: '{masked}'")
    return passed("no_profanity", SAFETY, ERROR)


def check_no_pii(ctx: ValidationContext) -> Check:
    kinds = personal_data_kinds(ctx.stripped, ctx.lowered)
    if kinds:
        return failed("no_pii", SAFETY, ERROR, "possible personal data: " + ", ".join(kinds))
    return passed("no_pii", SAFETY, ERROR)


def _discussed(ctx: ValidationContext, start: int) -> bool:
    """A quoted example inside an explanation of prompt injection."""
    quoted = ctx.lowered[max(0, start - 1) : start] in _QUOTES
    return quoted and any(word in ctx.lowered for word in _DISCUSSION)


def _injection(ctx: ValidationContext) -> str | None:
    lowered = ctx.lowered
    for hints, pattern in _INJECTION:
        if any(hint in lowered for hint in hints):
            for match in pattern.finditer(lowered):
                if not _discussed(ctx, match.start()):
                    return match.group(0)
    if lowered.startswith("you are") or any(hint in lowered for hint in _PERSONA_HINTS):
        match = _PERSONA.search(ctx.stripped)
        return match.group(0) if match else None
    return None


def check_no_injection_echo(ctx: ValidationContext) -> Check:
    found = _injection(ctx)
    if found:
        msg = f"prompt-injection / system-prompt echo: '{found[:80]}'"
        return failed("no_injection_echo", SAFETY, ERROR, msg)
    return passed("no_injection_echo", SAFETY, ERROR)


CHECKS = (check_no_secrets, check_no_profanity, check_no_pii, check_no_injection_echo)
