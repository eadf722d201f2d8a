"""Which gateway key created which stored response, and on which provider.

``GET``/``DELETE /v1/responses/{id}`` pass through only for the key that
created the response: every key shares the gateway's provider account, so
without this any key could read any other agent's conversation. Kept in Redis
when ``REDIS_URL`` is set (shared by every process, 30 days like OpenAI's
storage), else in a bounded in-process map; the call log (the record's
``metadata.response_id``) answers when neither remembers.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from calls.models import LLMCall
from common.redis_client import redis_from_url

logger = logging.getLogger(__name__)

PREFIX = "gwr:v1:"
TTL_SECONDS = 30 * 24 * 3600
LOCAL_MAX = 100_000


@dataclass(frozen=True)
class ResponseOwner:
    key_id: int | None
    provider: str


class _Owners:
    def __init__(self) -> None:
        self.local: OrderedDict[str, ResponseOwner] = OrderedDict()
        self.clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def redis(self) -> Any | None:
        if not settings.REDIS_URL:
            return None
        loop = asyncio.get_running_loop()
        client = self.clients.get(loop)
        if client is None:
            client = redis_from_url(
                settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5
            )
            self.clients[loop] = client
        return client


_owners = _Owners()


async def response_owner_remember(*, response_id: str, key_id: int | None, provider: str) -> None:
    owner = ResponseOwner(key_id, provider)
    _owners.local[response_id] = owner
    while len(_owners.local) > LOCAL_MAX:
        _owners.local.popitem(last=False)
    client = _owners.redis()
    if client is None:
        return
    try:
        await client.set(PREFIX + response_id, f"{key_id or ''}|{provider}", ex=TTL_SECONDS)
    except Exception:  # the call log still knows; only the fast path is lost
        logger.warning("response owner not stored in Redis", exc_info=True)


async def response_owner(response_id: str) -> ResponseOwner | None:
    found = _owners.local.get(response_id)
    if found is not None:
        return found
    client = _owners.redis()
    if client is not None:
        try:
            raw = await client.get(PREFIX + response_id)
        except Exception:
            logger.warning("response owner lookup in Redis failed", exc_info=True)
            raw = None
        if raw:
            key, _, provider = raw.decode().partition("|")
            return ResponseOwner(int(key) if key else None, provider)
    return await sync_to_async(_from_call_log)(response_id)


def _from_call_log(response_id: str) -> ResponseOwner | None:
    row = (
        LLMCall.objects.filter(operation="responses", metadata__response_id=response_id)
        .values_list("gateway_key_id", "provider")
        .first()
    )
    return ResponseOwner(*row) if row else None


def response_owners_forget() -> None:
    """Tests: start from an empty in-process map."""
    _owners.local.clear()
