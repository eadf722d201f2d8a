"""The ``x-gateway-*`` headers that name the call behind an answer."""

from __future__ import annotations

from llm_gateway.manager import CallContext


def gateway_headers(ctx: CallContext) -> dict[str, str]:
    record = ctx.record
    headers = {"x-gateway-request-id": str(ctx.request_id)}
    if record is not None:
        headers["x-gateway-provider"] = record.provider
        headers["x-gateway-retries"] = str(record.retries)
    return headers
