"""Validation of embeddings, Responses, legacy completions and moderations bodies.

Only what the gateway itself reads is checked (the model it routes on, the
input it sizes the budget reservation from, ``stream``, the output cap and
``n``); every other field goes to the provider untouched, which judges it and
answers in its own words. Messages follow OpenAI's wording and ``param``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.redaction import unstorable
from llm_gateway.api.errors import APIError
from llm_gateway.api.parsing import MAX_CHOICES, MAX_MODEL_NAME, parse_json
from llm_gateway.operations import COMPLETIONS, EMBEDDINGS, MODERATIONS, RESPONSES

ENCODING_FORMATS = ("float", "base64")


@dataclass
class OperationBody:
    """A checked body and what the gateway took from it."""

    operation: str
    body: dict[str, Any]
    model: str
    prompt: str  # the input's text, for the budget estimate and the record
    input_tokens: int | None = None  # exact, when the input is token arrays
    stream: bool = False
    client_wants_usage: bool = False

    def for_the_log(self) -> dict[str, Any]:
        """The body as the call log keeps it: token arrays (up to millions of
        integers, unreadable) become their count; text stays, redacted later."""
        if self.input_tokens is None:
            return self.body
        field = "prompt" if self.operation == COMPLETIONS else "input"
        return {**self.body, field: f"<{self.input_tokens} tokens>"}


def _invalid(message: str, param: str | None = None) -> APIError:
    return APIError(400, message, param=param)


def _missing(name: str) -> APIError:
    return APIError(
        400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter"
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _model(body: dict[str, Any], *, required: bool = True, default: str = "") -> str:
    model = body.get("model")
    if model is None and not required:
        return default
    if model is None:
        raise _missing("model")
    if (
        not isinstance(model, str)
        or not model.strip()
        or len(model) > MAX_MODEL_NAME
        or unstorable(model)
    ):
        raise _invalid("'model' must be a non-empty string.", "model")
    return model


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise _invalid(f"'{name}' must be a boolean.", name)
    return bool(value)


def _positive(body: dict[str, Any], name: str, *, minimum: int = 1) -> None:
    value = body.get(name)
    if value is not None and (not _is_int(value) or value < minimum):
        raise _invalid(f"'{name}' must be an integer of at least {minimum}.", name)


def _stream_options(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise _invalid("'stream_options' must be an object.", "stream_options")
    return bool((options or {}).get("include_usage"))


def _text_or_tokens(value: Any, name: str) -> tuple[str, int | None]:
    """OpenAI's prompt forms: a string, strings, a token array, token arrays.
    Returns the text (for an estimate) and the exact token count of token arrays."""
    if isinstance(value, str):
        return value, None
    if not isinstance(value, list) or not value:
        raise _invalid(f"'{name}' must be a string or a non-empty array.", name)
    if all(_is_int(t) for t in value):
        return "", len(value)
    if all(isinstance(item, str) for item in value):
        return "\n".join(value), None
    if all(isinstance(item, list) and item and all(_is_int(t) for t in item) for item in value):
        return "", sum(len(item) for item in value)
    raise _invalid(
        f"'{name}' must be a string, an array of strings, or an array of token arrays.", name
    )


def parse_embeddings(raw: bytes) -> OperationBody:
    body = parse_json(raw)
    model = _model(body)
    if body.get("input") is None:
        raise _missing("input")
    prompt, tokens = _text_or_tokens(body["input"], "input")
    fmt = body.get("encoding_format")
    if fmt is not None and fmt not in ENCODING_FORMATS:
        raise _invalid("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    _positive(body, "dimensions")
    return OperationBody(EMBEDDINGS, body, model, prompt, tokens)


def _responses_prompt(body: dict[str, Any]) -> str:
    """The text parts of ``instructions`` and ``input`` (a string or items)."""
    parts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    value = body.get("input")
    items = [value] if isinstance(value, str | dict) else value or []
    for item in items:
        if isinstance(item, str):
            parts.append(item)
        elif isinstance(item, dict):
            content = item.get("content", item.get("output", item.get("text")))
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def parse_responses(raw: bytes) -> OperationBody:
    body = parse_json(raw)
    model = _model(body)
    value = body.get("input")
    if value is not None and not isinstance(value, str | list):
        raise _invalid("'input' must be a string or an array of input items.", "input")
    if isinstance(value, list) and not all(isinstance(item, dict | str) for item in value):
        raise _invalid("'input' items must be objects.", "input")
    _positive(body, "max_output_tokens")
    stream = _flag(body, "stream")
    return OperationBody(RESPONSES, body, model, _responses_prompt(body), stream=stream)


def parse_completions(raw: bytes) -> OperationBody:
    body = parse_json(raw)
    model = _model(body)
    if body.get("prompt") is None:
        raise _missing("prompt")
    prompt, tokens = _text_or_tokens(body["prompt"], "prompt")
    _positive(body, "max_tokens", minimum=0)
    _positive(body, "n")
    if (body.get("n") or 0) > MAX_CHOICES:
        raise _invalid(f"'n' must be at most {MAX_CHOICES}.", "n")
    stream = _flag(body, "stream")
    wants_usage = _stream_options(body)
    return OperationBody(COMPLETIONS, body, model, prompt, tokens, stream, wants_usage)


def parse_moderations(raw: bytes) -> OperationBody:
    body = parse_json(raw)
    model = _model(body, required=False, default="omni-moderation-latest")
    value = body.get("input")
    if value is None:
        raise _missing("input")
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        prompt = " ".join(str(item.get("text", "")) for item in value)  # multimodal parts
    else:
        prompt, _ = _text_or_tokens(value, "input")
    return OperationBody(MODERATIONS, {**body, "model": model}, model, prompt)


PARSERS = {
    EMBEDDINGS: parse_embeddings,
    RESPONSES: parse_responses,
    COMPLETIONS: parse_completions,
    MODERATIONS: parse_moderations,
}
