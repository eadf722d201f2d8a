"""Deciding when a response is validated, and running the deferred kind off the caller's path.

``inline``: the caller waits and gets ``x-gateway-validation``. ``async``: the
response goes out at once and a Celery task validates the stored call; with no
broker (eager mode) or a broker that cannot be reached, the same work runs as a
background task in this process instead, so it is never lost and never
delays the caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Mapping

from asgiref.sync import sync_to_async
from django.conf import settings

from calls.models import LLMCall
from llm_gateway.keys import KeyInfo
from validation.services import validate_and_store
from validation.tasks import validate_call

logger = logging.getLogger(__name__)
_background: set[asyncio.Task] = set()


def validation_mode(headers: Mapping[str, str], key: KeyInfo) -> str:
    """ "inline", "async" or "off", from the request header, else the key's setting."""
    asked = (headers.get("x-gateway-validate") or "").strip().lower()
    if asked in ("inline", "true", "1", "yes"):
        return "inline"
    if asked in ("async", "background"):
        return "async"
    if asked in ("off", "false", "0", "no"):
        return "off"
    return "async" if key.validate_responses else "off"


def _run_locally(args: tuple) -> None:
    call_id, content, agent_name, request, finish_reason = args
    validate_and_store(
        call_id=call_id,
        content=content,
        agent_name=agent_name,
        request=request,
        finish_reason=finish_reason,
    )


def _publish(args: tuple) -> bool:
    try:
        validate_call.apply_async(args=args, retry=False)
        return True
    except Exception:  # noqa: BLE001 - any broker failure: fall back to local work
        logger.warning("validation task could not be queued; validating in-process")
        return False


# The record may be written just after the response (calls.recorder): wait
# for it like the Celery task does (autoretry on DoesNotExist), briefly and bounded.
_RECORD_WAITS = (0.05, 0.2, 0.5, 1.0, 2.0, 4.0)


async def _run_locally_when_recorded(args: tuple) -> None:
    for delay in (*_RECORD_WAITS, None):
        try:
            await sync_to_async(_run_locally)(args)
            return
        except LLMCall.DoesNotExist:
            if delay is None:
                logger.warning("call %s was never recorded; its validation is skipped", args[0])
                return
            await asyncio.sleep(delay)


def validation_enqueue(*, ctx, content: str, finish_reason: str | None) -> None:
    body = ctx.request_body if isinstance(ctx.request_body, dict) else None
    args = (str(ctx.request_id), content, ctx.agent_name or None, body, finish_reason)

    async def work() -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER or not await sync_to_async(_publish)(args):
            await _run_locally_when_recorded(args)

    # A fresh context: the task outlives the request, and with it the request's
    # thread-sensitive context (llm_gateway.api.database_thread).
    task = asyncio.get_running_loop().create_task(work(), context=contextvars.Context())
    _background.add(task)
    task.add_done_callback(_background.discard)
