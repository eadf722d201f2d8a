"""What every API call of a key starts with: its context, and the headers naming it."""

from __future__ import annotations

from typing import Any

from llm_gateway.api.http import ApiRequest
from llm_gateway.keys import KeyInfo
from llm_gateway.manager import CallContext


def api_call_context(
    request: ApiRequest, key: KeyInfo, *, agent_name: str, operation: str, body: Any
) -> CallContext:
    """The call's context: the key, the agent it is labelled with (as admission
    checked it: ``auth.agent_name_check``), what is asked."""
    return CallContext(
        agent_name=agent_name,
        gateway_key_id=key.id,
        key_prefix=key.prefix,
        key_agent_name=key.agent_name,
        source="api",
        operation=operation,
        request_body=body,
        defer_record=request.background_writes,
    )


def gateway_headers(ctx: CallContext) -> dict[str, str]:
    record = ctx.record
    headers = {"x-gateway-request-id": str(ctx.request_id)}
    if record is not None:
        headers["x-gateway-provider"] = record.provider
        headers["x-gateway-retries"] = str(record.retries)
        headers.update(trace_headers(record))
    return headers


def trace_headers(record: Any) -> dict[str, str]:
    """The call's trace and span ids: the agent's next step may name this call
    as its parent (``x-gateway-parent-id``)."""
    if not record.trace_id:
        return {}
    return {"x-gateway-trace-id": record.trace_id, "x-gateway-span-id": record.span_id}
