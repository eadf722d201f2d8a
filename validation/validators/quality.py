"""Quality family: is this a usable answer at all, independent of format and content rules.

Heuristics are deliberately simple and cheap (the whole validation must stay under 2 ms on
4 kB). Each one targets a failure mode we actually see from LLMs:

* ``not_empty`` (error): empty or whitespace-only output.
* ``not_truncated`` (warning): ``finish_reason == "length"``, the model hit max_tokens.
* ``adequate_length`` (warning): the request asks for an explanation/description/list ("why",
  "how do ..." but not "how many"), or the
  prompt is long (>= 200 chars), yet the answer has fewer than 5 words. Skipped for JSON and
  when the caller capped ``max_tokens`` below 20 (a short answer was requested).
* ``no_repetition``: looping output. Two signals on prose (code blocks removed): the same
  sentence/line (>= 20 chars) appearing 3+ times, or a low ratio of distinct word trigrams
  (texts of >= 24 words). Repeated material covering >= 50% of the text is a degenerate loop
  (error); >= 30% or a thrice-repeated sentence is a warning.
* ``code_fences_balanced`` (warning): an odd number of ``` fences garbles the rendering.
* ``complete_ending`` (warning): prose longer than 200 chars whose last line ends mid-sentence.
  Lists, tables, headings, code, URLs and emoji as the ending are fine; skipped when
  truncation was already reported so one cut-off is penalised once.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from .base import ERROR, QUALITY, WARNING, Check, ValidationContext, failed, passed

_ASK_FOR_DETAIL = re.compile(
    r"\b(explain|describe|list|compare|summari[sz]e|outline|elaborate|discuss|walk me through"
    r"|write|why|how (?:do|does|can|could|should|would|to|is|are))\b",
    re.I,
)
_WORD = re.compile(r"\w+")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_FENCE_LINE = re.compile(r"^[ \t]*```", re.M)
_NON_PROSE_LAST_LINE = re.compile(r"^\s*(?:[-*+>|#]|\d+[.)]\s|```|~~~|</?\w)")
_TERMINAL = re.compile(r"[.!?:;…)\]}\"'`*_»\u201d\u2019]\s*$|https?://\S+$")

_FENCES = ("```", "~~~")

LONG_PROMPT_CHARS = 200
MIN_WORDS = 5
LONG_ANSWER_CHARS = 200
REPEATED_SENTENCE_MIN_CHARS = 20
REPEATED_SENTENCE_COUNT = 3
NGRAM_MIN_WORDS = 24
LOOP_WARNING_RATIO = 0.3
LOOP_ERROR_RATIO = 0.5


def check_not_empty(ctx: ValidationContext) -> Check:
    if not ctx.stripped:
        return failed("not_empty", QUALITY, ERROR, "response is empty")
    return passed("not_empty", QUALITY, ERROR)


def check_not_truncated(ctx: ValidationContext) -> Check:
    if ctx.is_truncated:
        msg = "response was truncated (finish_reason=length); raise max_tokens"
        return failed("not_truncated", QUALITY, WARNING, msg)
    return passed("not_truncated", QUALITY, WARNING)


def _wants_detail(ctx: ValidationContext) -> bool:
    if ctx.expects_json or (ctx.max_tokens is not None and ctx.max_tokens < 20):
        return False
    prompt = ctx.prompt.strip()
    return len(prompt) >= LONG_PROMPT_CHARS or bool(_ASK_FOR_DETAIL.search(prompt))


def check_adequate_length(ctx: ValidationContext) -> Check:
    words = len(ctx.stripped.split(maxsplit=MIN_WORDS))  # cheap: we only need "fewer than 5"
    if words < MIN_WORDS and _wants_detail(ctx):
        msg = f"response too short for the request ({words} words)"
        return failed("adequate_length", QUALITY, WARNING, msg)
    return passed("adequate_length", QUALITY, WARNING)


def _sentence_repetition(prose: str) -> tuple[int, float]:
    """Highest repeat count of one sentence and the share of sentences that are repeats."""
    sentences = [" ".join(s.lower().split()) for s in _SENTENCE_SPLIT.split(prose)]
    sentences = [s for s in sentences if len(s) >= REPEATED_SENTENCE_MIN_CHARS]
    if len(sentences) < REPEATED_SENTENCE_COUNT:
        return 0, 0.0
    counts = Counter(sentences)
    top = max(counts.values())
    return top, (len(sentences) - len(counts)) / len(sentences)


def _trigram_repetition(prose: str) -> float:
    """Share of word trigrams that repeat an earlier trigram (0 for normal prose)."""
    words = _WORD.findall(prose.lower())
    if len(words) < NGRAM_MIN_WORDS:
        return 0.0
    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    return 1 - len(set(trigrams)) / len(trigrams)


def check_no_repetition(ctx: ValidationContext) -> Check:
    if ctx.expects_json:
        return passed("no_repetition", QUALITY, WARNING, "skipped for JSON")
    top, sentence_ratio = _sentence_repetition(ctx.prose)
    ratio = max(sentence_ratio, _trigram_repetition(ctx.prose))
    if ratio >= LOOP_ERROR_RATIO:
        msg = f"degenerate loop: {ratio:.0%} of the text repeats itself"
        return failed("no_repetition", QUALITY, ERROR, msg)
    if ratio >= LOOP_WARNING_RATIO or top >= REPEATED_SENTENCE_COUNT:
        msg = f"repetitive output: {ratio:.0%} repeated, a sentence appears {top} times"
        return failed("no_repetition", QUALITY, WARNING, msg)
    return passed("no_repetition", QUALITY, WARNING)


def check_code_fences_balanced(ctx: ValidationContext) -> Check:
    fences = len(_FENCE_LINE.findall(ctx.stripped))
    if fences % 2:
        msg = f"unbalanced code fences ({fences} ``` markers)"
        return failed("code_fences_balanced", QUALITY, WARNING, msg)
    return passed("code_fences_balanced", QUALITY, WARNING)


def _ends_mid_sentence(ctx: ValidationContext) -> bool:
    """Ending with code, a list, a table, a URL or an emoji is a complete answer."""
    text = ctx.prose.rstrip()
    if len(text) < LONG_ANSWER_CHARS or text[:1] in "{[" or ctx.stripped.endswith(_FENCES):
        return False
    last_line = text.rsplit("\n", 1)[-1]
    if _NON_PROSE_LAST_LINE.match(last_line) or unicodedata.category(last_line[-1]) == "So":
        return False
    return not _TERMINAL.search(last_line)


def check_complete_ending(ctx: ValidationContext) -> Check:
    if not ctx.is_truncated and not ctx.expects_json and _ends_mid_sentence(ctx):
        tail = ctx.prose.rstrip()[-40:]
        msg = f"response ends mid-sentence: '…{tail}'"
        return failed("complete_ending", QUALITY, WARNING, msg)
    return passed("complete_ending", QUALITY, WARNING)


CHECKS = (
    check_not_truncated,
    check_adequate_length,
    check_no_repetition,
    check_code_fences_balanced,
    check_complete_ending,
)
