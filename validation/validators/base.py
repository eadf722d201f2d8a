"""Shared vocabulary of the check families.

Every check returns a :class:`Check`, passed or not, so the dashboard can show what was
verified as well as what failed. :class:`ValidationContext` is computed once per response so
the families do not each re-strip fences or re-extract the prompt (the 2 ms budget matters).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

INFO = "info"
WARNING = "warning"
ERROR = "error"
SEVERITIES = (INFO, WARNING, ERROR)

QUALITY = "quality"
FORMAT = "format"
SAFETY = "safety"
BUSINESS = "business"
FAMILIES = (QUALITY, FORMAT, SAFETY, BUSINESS)

_FENCED_BLOCK = re.compile(r"^[ \t]*(```|~~~).*?(?:^[ \t]*\1[ \t]*$|\Z)", re.M | re.S)
# Any indentation: fences inside list items are indented further than CommonMark's three.
_FENCE_LINE = re.compile(r"^[ \t]*(`{3,}|~{3,})([^\n]*)$", re.M)
TRUNCATION_REASONS = frozenset({"length", "max_tokens"})  # OpenAI's and Anthropic's words


@dataclass(frozen=True, slots=True)
class Check:
    """Outcome of one check; ``message`` is what an operator reads on the dashboard."""

    name: str
    family: str
    passed: bool
    severity: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def passed(name: str, family: str, severity: str, message: str = "ok") -> Check:
    return Check(name, family, True, severity, message)


def failed(name: str, family: str, severity: str, message: str) -> Check:
    return Check(name, family, False, severity, message)


def strip_code_blocks(text: str) -> str:
    """Drop fenced code so prose heuristics (loops, endings) do not judge source code."""
    if "```" not in text and "~~~" not in text:
        return text
    return _FENCED_BLOCK.sub("", text)


def unclosed_fence_line(text: str) -> int | None:
    """The 1-based line of a code fence never closed, or None (CommonMark's rules: a
    fence closes with the same character, at least as long, and nothing after it)."""
    if "```" not in text and "~~~" not in text:
        return None
    opened: tuple[str, int, int] | None = None
    for match in _FENCE_LINE.finditer(text):
        fence, rest = match.groups()
        if opened is None:
            if fence[0] == "`" and "`" in rest:
                continue  # a backtick "info string" with backticks is inline code, not a fence
            opened = (fence[0], len(fence), match.start())
        elif fence[0] == opened[0] and len(fence) >= opened[1] and not rest.strip():
            opened = None
    return None if opened is None else text.count("\n", 0, opened[2]) + 1


@dataclass(slots=True)
class ValidationContext:
    """Everything the families need, derived once from the call's inputs."""

    content: str
    expected_format: str | None = None
    schema: Any = None
    prompt: str = ""
    max_tokens: int | None = None
    finish_reason: str | None = None
    stripped: str = field(init=False)
    lowered: str = field(init=False)
    prose: str = field(init=False)
    parsed_json: tuple[bool, Any, str] | None = field(default=None, init=False)
    unclosed_fence: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.stripped = self.content.strip()
        self.lowered = self.stripped.lower()
        self.prose = strip_code_blocks(self.stripped)
        self.unclosed_fence = unclosed_fence_line(self.stripped)

    @property
    def expects_json(self) -> bool:
        return self.expected_format == "json"

    @property
    def is_truncated(self) -> bool:
        return self.finish_reason in TRUNCATION_REASONS
