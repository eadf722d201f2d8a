"""The request explorer's prompt preview: the head of a call's last message,
cut by the database.

A page lists fifty calls; loading and decoding fifty whole request bodies
(an agent resends its whole history every turn: tens of kilobytes each) to
show a line of each would cost more than the rest of the page. The database
extracts the last message's content (or the ``input`` / ``prompt`` of the
other operations) and keeps its first ``PREVIEW_CHARS`` characters, so only
that crosses the wire. Content given as parts or blocks arrives as truncated
JSON text, from which ``preview_text`` picks the words.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.db.models import F, Func, TextField

from common.redaction import redact_text

PREVIEW_CHARS = 400
SHOWN_CHARS = 140
# A "text" or "content" string inside JSON text that may be cut anywhere.
_JSON_TEXT = re.compile(r'"(?:text|content)"\s*:\s*"((?:[^"\\]|\\.)*)"')


_TEMPLATES = {
    # ``-> -1`` is the array's last element; a body of another shape gives NULL.
    "postgresql": "LEFT(COALESCE(%(expressions)s -> 'messages' -> -1 ->> 'content', "
    "%(expressions)s ->> 'input', %(expressions)s ->> 'prompt'), {n})",
    # SQLite's JSON functions (tests, `make run`); ``#-1`` is its last element.
    "sqlite": "SUBSTR(COALESCE(json_extract(%(expressions)s, '$.messages[#-1].content'), "
    "json_extract(%(expressions)s, '$.input'), json_extract(%(expressions)s, '$.prompt')), 1, {n})",
}


class PromptHead(Func):
    """First PREVIEW_CHARS characters of the last message's content (NULL: no body)."""

    output_field = TextField()

    def __init__(self) -> None:
        super().__init__(F("request_body"))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = _TEMPLATES.get(connection.vendor, _TEMPLATES["sqlite"])
        extra["template"] = template.format(n=PREVIEW_CHARS)
        return super().as_sql(compiler, connection, **extra)


def preview_text(head: str | None) -> str:
    """One short line to read: the words of ``head``, whitespace folded."""
    if not head:
        return ""
    text = head
    if head[:1] in "[{":
        # Parts or blocks: the last text in them (truncated JSON cannot be parsed).
        found = _JSON_TEXT.findall(head)
        text = _unescape(found[-1]) if found else ""
    # Stored bodies were redacted; the head is redacted again on the way out, as
    # the request detail does with whole bodies.
    text = " ".join(redact_text(text).split())
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1].rstrip() + "…"


def _unescape(raw: str) -> str:
    try:
        return json.loads(f'"{raw}"')
    except ValueError:
        return raw
