"""Write side of feedback: a score for one call, from the HTTP API or the Python API.

Feedback sits beside validation: validation is the gateway's own judgement of
an answer, feedback is someone else's (the end user's thumbs, a reviewer, an
offline eval). Several may be given per call, told apart by ``name``.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from calls.models import LLMCall
from common.redaction import redact_text
from validation.models import Feedback

MAX_NAME = 64
MAX_COMMENT = 4000
DEFAULT_NAME = "user"


class FeedbackError(ValueError):
    """Refused feedback; ``param`` names the field, ``not_found`` an unknown call."""

    def __init__(self, message: str, *, param: str | None = None, not_found: bool = False):
        super().__init__(message)
        self.message, self.param, self.not_found = message, param, not_found


def feedback_score(value: Any) -> float:
    """A score from -1 to 1; ``true``/``false`` are thumbs (1/0)."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if not isinstance(value, int | float) or not math.isfinite(value) or not -1 <= value <= 1:
        raise FeedbackError("'score' must be a number from -1 to 1 (or 0/1).", param="score")
    return float(value)


def _text(value: Any, *, param: str, limit: int, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise FeedbackError(f"'{param}' must be a string.", param=param)
    if len(value) > limit:
        raise FeedbackError(f"'{param}' is too long: at most {limit} characters.", param=param)
    return value.strip() or default


def _call_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise FeedbackError(
            "'request_id' must be a request id (x-gateway-request-id).", param="request_id"
        ) from None


def feedback_record(
    *,
    request_id: Any,
    score: Any,
    comment: Any = None,
    name: Any = None,
    gateway_key_id: int | None = None,
    any_key: bool = False,
) -> Feedback:
    """Store one piece of feedback on a call.

    Through the HTTP API only calls made with the calling key can be scored
    (``gateway_key_id``); another key's call is "not found", so ids cannot be
    probed. The Python API runs in-process and may score any call (``any_key``).
    """
    call_id = _call_id(request_id)
    values = {
        "score": feedback_score(score),
        "name": _text(name, param="name", limit=MAX_NAME, default=DEFAULT_NAME),
        "comment": redact_text(_text(comment, param="comment", limit=MAX_COMMENT, default="")),
    }
    calls = LLMCall.objects.filter(id=call_id)
    if not any_key:
        calls = calls.filter(gateway_key_id=gateway_key_id)
    call = calls.only("id", "created_at", "agent_name", "model").first()
    if call is None:
        raise FeedbackError(f"No request with id '{call_id}' for this key.", not_found=True)
    return Feedback.objects.create(
        call_id=call.id,
        call_created_at=call.created_at,
        agent_name=call.agent_name,
        model=call.model,
        **values,
    )
