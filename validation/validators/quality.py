"""Quality family: is this a usable answer at all, independent of format and content rules.

Heuristics are deliberately simple and cheap (the whole validation must stay under 2 ms on
4 kB). Each one targets a failure mode we actually see from LLMs; default severities are in
:mod:`validation.severity`:

* ``not_empty``: empty or whitespace-only output.
* ``adequate_length``: a non-answer. Filler ("OK.", "Sure.", "It depends.", "See the docs.")
  to a question or a request (but "Yes." to a yes/no question is an answer), or a few words
  (< 5) to a request for detail (explain, compare, walk me through, a long prompt): a terse
  answer to a plain question ("Disk full.") is fine. Fine when the request asked for a
  short answer ("answer yes or no", ``max_tokens`` < 20) and for JSON.
* ``no_repetition``: looping output. Two signals on prose (code blocks removed, list
  markers ignored): the same sentence or item repeated, and a low ratio of distinct word
  trigrams. Repeats covering half the text, or one sentence four times over a third of it,
  are a degenerate loop (error); milder repetition is a warning.
* ``no_refusal_boilerplate``: "As an AI language model, I cannot …" says nothing useful.
* truncation, unclosed fences and cut-off endings: :mod:`.completeness`.
"""

from __future__ import annotations

import re
from collections import Counter

from .base import ERROR, QUALITY, WARNING, Check, ValidationContext, failed, passed
from .completeness import check_code_fences_balanced, check_complete_ending, check_not_truncated

# A request for an explanation: a few words cannot answer it, however apt.
_ASK_FOR_DETAIL = re.compile(
    r"\b(explain|describe|list|compare|summari[sz]e|outline|elaborate|discuss|walk (?:me|us)"
    r" through|step by step|steps|write|draft|document|analy[sz]e|in detail|pros and cons)\b",
    re.I,
)
# A question: a terse answer may do ("Disk full."), but not a shrug ("It depends.").
_QUESTION = re.compile(
    r"\?|^\W*(?:who|what|when|where|which|why|how)\b|\b(?:how (?:do|does|can|should|to)"
    r"|what should|tell me|help me|recommend|suggest|review|check)\b",
    re.I,
)
_ASK_FOR_BREVITY = re.compile(
    r"\b(?:yes or no|one word|single word|just (?:the|a|yes|no)|only (?:the|a|yes|no)"
    r"|in (?:a )?(?:word|number|few words)|brief(?:ly)?|short answer|tl;?dr|true or false)\b",
    re.I,
)
_YES_NO_QUESTION = re.compile(
    r"^\W*(?:is|are|was|were|do|does|did|can|could|will|would|should|shall|has|have|had|may"
    r"|must|am)\b",
    re.I,
)
_YES_NO_ANSWERS = frozenset(
    ["yes", "no", "yeah", "yep", "nope", "correct", "true", "false", "maybe"]
)
# Whole replies (lower-cased words) that carry no content of their own.
_FILLER = frozenset(
    (
        "ok", "okay", "sure", "yes", "no", "yeah", "yep", "nope", "maybe", "perhaps",
        "possibly", "probably", "certainly", "indeed", "absolutely", "noted", "understood",
        "done", "thanks", "fine", "right", "correct", "true", "false", "agreed", "depends",
        "unknown", "none", "nothing",
        "of course", "got it", "will do", "thank you", "sounds good", "good question",
        "great question", "it depends", "that depends", "hard to say", "not sure",
        "i'm not sure", "i am not sure", "i don't know", "no idea", "n a", "no comment",
        "see above", "see below", "let me check", "i'll check", "i will check",
        "i'll get back to you", "as discussed", "same as before", "ok sure", "sure thing",
        "yes of course", "no problem", "it varies", "that varies", "not applicable",
        "here you go", "sure here you go", "here it is", "here you are", "happy to help",
        "i can help with that", "let me know", "i'll look into it", "we'll look into it",
        "good point", "interesting question", "sure i can help", "certainly here you go",
    )
)  # fmt: skip
# Sending the reader to documentation instead of answering. Pointing to a person or a
# team ("contact sales@…") can be the answer, so it is not a deflection.
_DEFLECTION = re.compile(
    r"^(?:please )?(?:see|check|read|consult|refer to|look (?:at|in)|search|google)\b.{0,60}"
    r"\b(?:docs?|documentation|manual|guide|handbook|wiki|faq|policy|intranet|website|site"
    r"|portal|internet|google|link|readme)\b"
)
_WORDS = re.compile(r"[a-z']+")
_LIST_MARKER = re.compile(r"^[\s>*+\-#|]*(?:\d+[.)]\s*)?")
_BOILERPLATE = re.compile(
    r"\bas an ai(?: language model| assistant| model)?,? i (?:cannot|can't|can not|am unable"
    r"|am not able|don't have|do not have)|\bi(?:'m| am) (?:just |only )?an ai\b",
    re.I,
)

MIN_WORDS = 5
FILLER_MAX_WORDS = 12
CAPPED_BELOW_TOKENS = 20
LONG_PROMPT_CHARS = 200
REPEATED_SENTENCE_MIN_CHARS = 12
REPEATED_SENTENCE_COUNT = 3
LOOP_SENTENCE_COUNT = 4
NGRAM_MIN_WORDS = 24
LOOP_WARNING_RATIO = 0.3
LOOP_ERROR_RATIO = 0.5


def check_not_empty(ctx: ValidationContext) -> Check:
    if not ctx.stripped:
        return failed("not_empty", QUALITY, ERROR, "response is empty")
    return passed("not_empty", QUALITY, ERROR)


def _short_answer_allowed(ctx: ValidationContext) -> bool:
    capped = ctx.max_tokens is not None and ctx.max_tokens < CAPPED_BELOW_TOKENS
    return ctx.expects_json or capped or bool(_ASK_FOR_BREVITY.search(ctx.prompt))


def _wants_detail(prompt: str) -> bool:
    return len(prompt) >= LONG_PROMPT_CHARS or bool(_ASK_FOR_DETAIL.search(prompt))


def _filler(ctx: ValidationContext, words: list[str]) -> bool:
    """A reply with no content of its own: an acknowledgement, a shrug or a deflection."""
    return " ".join(words) in _FILLER or bool(_DEFLECTION.match(ctx.lowered))


def _non_answer(ctx: ValidationContext) -> str | None:
    prompt = ctx.prompt.strip()
    words = _WORDS.findall(ctx.lowered[:200])
    if not prompt or len(words) > FILLER_MAX_WORDS or _short_answer_allowed(ctx):
        return None
    detailed = _wants_detail(prompt)
    if _filler(ctx, words) and (detailed or _QUESTION.search(prompt)):
        yes_no = _YES_NO_QUESTION.match(prompt) and set(words) <= _YES_NO_ANSWERS
        return None if yes_no and not detailed else "a non-answer to the request"
    if detailed and len(words) < MIN_WORDS:
        return f"too short for a request that asks for detail ({len(words)} words)"
    return None


def check_adequate_length(ctx: ValidationContext) -> Check:
    problem = _non_answer(ctx)
    if problem:
        return failed("adequate_length", QUALITY, ERROR, f"response is {problem}")
    return passed("adequate_length", QUALITY, ERROR)


def _sentences(prose: str) -> list[str]:
    """Lines, split again after '.', '!' and '?' (string methods: a regex split with a
    look-behind costs several times more on 4 kB)."""
    return prose.replace(". ", ".\n").replace("! ", "!\n").replace("? ", "?\n").split("\n")


def _sentence_repetition(prose: str) -> tuple[int, float]:
    """Highest repeat count of one sentence or item, and the share of them that are repeats."""
    sentences = [
        " ".join(
            (s if s[:1].isalpha() else _LIST_MARKER.sub("", s, count=1)).lower().split()
        ).rstrip(".!?")
        for s in _sentences(prose)
        if len(s) >= REPEATED_SENTENCE_MIN_CHARS
    ]
    if len(sentences) < REPEATED_SENTENCE_COUNT:
        return 0, 0.0
    counts = Counter(sentences)
    top = max(counts.values())
    return top, (len(sentences) - len(counts)) / len(sentences)


def _trigram_repetition(prose: str) -> float:
    """Share of word trigrams that repeat an earlier trigram (0 for normal prose)."""
    words = prose.lower().split()  # punctuation stays on its word: repeats repeat it too
    if len(words) < NGRAM_MIN_WORDS:
        return 0.0
    distinct = len(set(zip(words, words[1:], words[2:], strict=False)))
    return 1 - distinct / (len(words) - 2)


def check_no_repetition(ctx: ValidationContext) -> Check:
    if ctx.expects_json:
        return passed("no_repetition", QUALITY, ERROR, "skipped for JSON")
    top, sentence_ratio = _sentence_repetition(ctx.prose)
    ratio = max(sentence_ratio, _trigram_repetition(ctx.prose))
    looping = top >= LOOP_SENTENCE_COUNT and ratio >= LOOP_WARNING_RATIO
    if ratio >= LOOP_ERROR_RATIO or looping:
        msg = f"degenerate loop: {ratio:.0%} of the text repeats itself"
        return failed("no_repetition", QUALITY, ERROR, msg)
    if ratio >= LOOP_WARNING_RATIO or top >= REPEATED_SENTENCE_COUNT:
        msg = f"repetitive output: {ratio:.0%} repeated, a sentence appears {top} times"
        return failed("no_repetition", QUALITY, WARNING, msg)
    return passed("no_repetition", QUALITY, ERROR)


def check_no_refusal_boilerplate(ctx: ValidationContext) -> Check:
    match = _BOILERPLATE.search(ctx.prose) if " ai" in ctx.lowered else None
    if match:
        msg = f"AI boilerplate instead of an answer: '{match.group(0)}'"
        return failed("no_refusal_boilerplate", QUALITY, WARNING, msg)
    return passed("no_refusal_boilerplate", QUALITY, WARNING)


CHECKS = (
    check_not_truncated,
    check_adequate_length,
    check_no_repetition,
    check_code_fences_balanced,
    check_complete_ending,
    check_no_refusal_boilerplate,
)
