"""The one token estimate, for when no provider has counted (yet).

Budget reservations need a prompt's size before any provider answers, the
mock provider invents usage, and a stream cut before its usage chunk still has
to be billed: all three use these figures, so they agree with each other.
"""

from __future__ import annotations

import math
from typing import Any

# Per-message framing tokens the providers add on top of the text (OpenAI: ~3-4).
MESSAGE_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    """About 4 characters per token, the usual rule for English text."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """The text of a chat's messages (string contents and text parts)."""
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def estimate_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """The prompt's tokens: its text plus each message's framing and the reply's."""
    return estimate_tokens(prompt_text(messages)) + MESSAGE_OVERHEAD_TOKENS * (len(messages) + 1)
