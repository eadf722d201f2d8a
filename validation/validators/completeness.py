"""Quality family, part two: did the answer arrive whole?

* ``not_truncated``: the provider stopped at its token limit. If the caller set
  ``max_tokens`` they asked for a cap, so the cut is a warning; otherwise the
  caller gets half an answer it never agreed to, which is an error.
* ``code_fences_balanced``: a fence opened and never closed swallows the rest of
  the answer when rendered, and usually means the model stopped early.
* ``complete_ending``: the answer stops mid-word or mid-sentence even though the
  provider said ``stop``. Two signals, both cheap: the last word cannot end a
  sentence (``the``, ``and``, ``of``, a trailing comma or hyphen), or the last
  paragraph is a sentence of some length with no closing punctuation. Lists,
  tables, headings, code, URLs, emoji and sign-offs are complete endings.
  Skipped when truncation was already reported, so one cut is counted once.
"""

from __future__ import annotations

import re
import unicodedata

from .base import ERROR, QUALITY, WARNING, Check, ValidationContext, failed, passed

# Words that cannot end an English sentence: articles, conjunctions,
# possessives and the prepositions that are never particles ("sign in" is fine).
_DANGLING = frozenset((
    "a", "an", "the", "and", "or", "but", "nor", "of", "with", "from", "than", "that", "which",
    "whose", "whom", "because", "although", "whereas", "whether", "within", "into", "onto",
    "without", "between", "among", "amongst", "towards", "via", "versus", "is", "are", "was",
    "were", "be", "been", "being", "has", "have", "had", "our", "your", "their", "its", "my",
    "his", "her", "this", "these", "those", "such", "either", "neither", "both", "each", "every",
    "very", "if", "unless", "until", "while", "when", "where",
))  # fmt: skip
_OPEN_ENDINGS = (",", "-", "–", "—", "(", "[", "{", "&")
_NON_PROSE_LINE = re.compile(r"^\s*(?:[-*+>|#]|\d+[.)]\s|```|~~~|</?\w)")
_TERMINAL = re.compile(r"[.!?:;…)\]}\"'`*_»\u201d\u2019]\s*$|https?://\S+$")
_FENCES = ("```", "~~~")

SENTENCE_MIN_WORDS = 8  # an unpunctuated line this long is a sentence, not a label
SIGN_OFF_MAX_WORDS = 4  # "Best regards,\nThe support team"


def check_not_truncated(ctx: ValidationContext) -> Check:
    if not ctx.is_truncated:
        return passed("not_truncated", QUALITY, ERROR)
    if ctx.max_tokens is not None:
        msg = f"response stopped at the caller's limit (max_tokens={ctx.max_tokens})"
        return failed("not_truncated", QUALITY, WARNING, msg)
    msg = (
        f"response was cut off (finish_reason={ctx.finish_reason}) although the request "
        "set no token limit"
    )
    return failed("not_truncated", QUALITY, ERROR, msg)


def check_code_fences_balanced(ctx: ValidationContext) -> Check:
    if ctx.unclosed_fence is not None:
        msg = f"code fence opened on line {ctx.unclosed_fence} is never closed"
        return failed("code_fences_balanced", QUALITY, ERROR, msg)
    return passed("code_fences_balanced", QUALITY, ERROR)


def _is_sign_off(lines: list[str]) -> bool:
    return (
        len(lines) > 1
        and lines[-2].rstrip().endswith(",")
        and (len(lines[-1].split()) <= SIGN_OFF_MAX_WORDS)
    )


def _dangles(line: str) -> bool:
    if line.endswith(_OPEN_ENDINGS) and not line.endswith(("--", "->")):
        return True
    return line.rsplit(None, 1)[-1].lower() in _DANGLING


def _ends_mid_sentence(ctx: ValidationContext) -> bool:
    text = ctx.prose.rstrip()
    if not text or text[:1] in "{[" or ctx.stripped.endswith(_FENCES):
        return False
    lines = [line for line in text.split("\n") if line.strip()]
    last = lines[-1].strip()
    if _TERMINAL.search(last) or unicodedata.category(last[-1]) == "So" or _is_sign_off(lines):
        return False
    if _dangles(last):
        return True
    if _NON_PROSE_LINE.match(last):
        return False  # a list item, table row or heading need no full stop
    return len(last.split()) >= SENTENCE_MIN_WORDS


def check_complete_ending(ctx: ValidationContext) -> Check:
    if not ctx.is_truncated and not ctx.expects_json and _ends_mid_sentence(ctx):
        tail = ctx.prose.rstrip()[-40:]
        return failed("complete_ending", QUALITY, ERROR, f"response ends mid-sentence: '…{tail}'")
    return passed("complete_ending", QUALITY, ERROR)
