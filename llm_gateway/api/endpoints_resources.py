"""``GET /v1/models/{id}`` and ``GET``/``DELETE /v1/responses/{id}``.

A stored response belongs to the key that created it (``response_owners``):
another key gets the same 404 as for an id that never existed, so ids cannot
be probed. Both pass-throughs go to the provider that made the response and
are recorded like every call that reaches a provider (at $0).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from django.db import DatabaseError

from llm_gateway.api import usage as usage_selectors
from llm_gateway.api.attribution import request_attribute
from llm_gateway.api.auth import agent_name_check, api_key_authenticate
from llm_gateway.api.calls import api_call_context
from llm_gateway.api.calls import gateway_headers as _gateway_headers
from llm_gateway.api.errors import APIError, error_api_response, llm_error_api_response
from llm_gateway.api.http import ApiRequest, ApiResponse, json_response
from llm_gateway.api.views import _database_unavailable
from llm_gateway.interface import LLMError, LLMProvider, LLMRequest
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import _record_failure, _write
from llm_gateway.operation_call import OperationManager
from llm_gateway.operations import RESPONSES, SPECS, OperationReply
from llm_gateway.provider_registry import adefault_providers
from llm_gateway.response_owners import response_owner
from llm_gateway.telemetry import upstream_trace_headers


def _wrong_method(request: ApiRequest, allowed: tuple[str, ...]) -> ApiResponse | None:
    """OpenAI-shaped 405 with ``Allow`` for the templated paths (the router's
    method check knows exact paths only)."""
    if request.method in allowed or (request.method == "HEAD" and "GET" in allowed):
        return None
    listed = ", ".join(allowed)
    response = error_api_response(
        405,
        f"Method {request.method} is not allowed here; use {listed}.",
        code="method_not_allowed",
    )
    response.headers["allow"] = listed
    return response


async def model_detail_handler(request: ApiRequest, model_id: str) -> ApiResponse:
    if (refusal := _wrong_method(request, ("GET",))) is not None:
        return refusal
    try:
        await api_key_authenticate(request.headers)
    except APIError as refusal:
        return refusal.api_response()
    for model in await usage_selectors.model_list_cached():
        if model["id"] == model_id:
            return json_response(model)
    return error_api_response(
        404,
        f"The model '{model_id}' does not exist",
        code="model_not_found",
        param="model",
    )


def _not_found(response_id: str) -> ApiResponse:
    return error_api_response(404, f"Response with id '{response_id}' not found.", param=None)


async def response_item_handler(request: ApiRequest, response_id: str) -> ApiResponse:
    if (refusal := _wrong_method(request, ("GET", "DELETE"))) is not None:
        return refusal
    try:
        key = await api_key_authenticate(request.headers)
        owner = await response_owner(response_id)
        if owner is None or owner.key_id != key.id:
            return _not_found(response_id)
        provider = await _provider_named(owner.provider)
        if provider is None:
            return _not_found(response_id)
        if request.method == "DELETE":
            delete = provider.response_delete
            return await _relayed(request, key, provider, lambda out: delete(response_id, out))
        query = dict(request.query)
        get = provider.response_get
        return await _relayed(request, key, provider, lambda out: get(response_id, query, out))
    except APIError as refusal:
        return refusal.api_response()
    except DatabaseError:
        return await _database_unavailable()


async def _provider_named(name: str) -> LLMProvider | None:
    for provider in await adefault_providers():
        if provider.name == name and callable(getattr(provider, "response_get", None)):
            return provider
    return None


async def _relayed(
    request: ApiRequest,
    key: KeyInfo,
    provider: LLMProvider,
    call: Callable[[dict[str, str] | None], Awaitable[OperationReply]],
) -> ApiResponse:
    # The log shows what was asked: which response, read or deleted.
    target = request.path.rstrip("/").rsplit("/", 1)[-1]
    body = {"response_id": target, "method": request.method}
    agent_name = agent_name_check(key, request.headers)
    ctx = api_call_context(request, key, agent_name=agent_name, operation=RESPONSES, body=body)
    manager = OperationManager(SPECS[RESPONSES], providers=[provider])
    asked = LLMRequest(model="")
    request_attribute(asked, request.headers)  # the agent's trace, session, tags
    record = manager._new_record(ctx, asked, stream=False)
    record.provider, record.provider_kind = provider.name, provider.kind
    try:
        reply = await call(upstream_trace_headers(record) or None)
    except LLMError as error:
        await _record_failure(record, ctx, error)
        return llm_error_api_response(error, _gateway_headers(ctx))
    record.model = record.requested_model = reply.model
    record.latency_ms = (time.monotonic() - ctx.started) * 1000
    record.metadata["response_id"] = reply.data.get("id")
    await _write(record, ctx)
    return ApiResponse(body=reply.content, headers=_gateway_headers(ctx))
