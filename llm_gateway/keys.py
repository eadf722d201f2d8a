"""Gateway keys: creation, hashing and lookup.

A key looks like ``gw_<prefix>_<secret>``. Only the prefix (not secret, used to
find the row and to show the key) and an HMAC-SHA256 of the whole key are
stored. HMAC with a server-side pepper means a stolen table alone cannot be
brute-forced offline; the secret has 256 bits, so a slow hash adds nothing.
Lookups are cached in-process for a few seconds: the key check is on every
request's path and must not cost a database round trip each time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from calls.models import GatewayKey
from common.cache import ProcessCache

KEY_PREFIX = "gw_"
CACHE_SECONDS = 5.0
LAST_USED_WRITE_EVERY = 60.0


def _pepper() -> bytes:
    return (getattr(settings, "GATEWAY_KEY_PEPPER", "") or settings.SECRET_KEY).encode()


def key_hash(raw_key: str) -> str:
    return hmac.new(_pepper(), raw_key.encode(), hashlib.sha256).hexdigest()


def key_prefix_of(raw_key: str) -> str | None:
    """``gw_abcd1234`` from ``gw_abcd1234_<secret>``; None when the shape is wrong."""
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 200:
        return None
    head, _, secret = raw_key[len(KEY_PREFIX) :].partition("_")
    if len(head) != 8 or not head.isalnum() or len(secret) < 20:
        return None
    return KEY_PREFIX + head


def gateway_key_create(
    *,
    name: str,
    agent_name: str,
    rpm_limit: int | None = None,
    tpm_limit: int | None = None,
    allowed_models: list[str] | None = None,
    expires_at: datetime | None = None,
    validate_responses: bool = False,
    cache_mode: str = "auto",
    cache_ttl_seconds: int | None = None,
    allowed_agent_names: list[str] | None = None,
) -> tuple[str, GatewayKey]:
    """Create a key and return it with the raw value, which is never retrievable again."""
    prefix = KEY_PREFIX + secrets.token_hex(4)
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = GatewayKey.objects.create(
        name=name,
        agent_name=agent_name,
        prefix=prefix,
        key_hash=key_hash(raw),
        rpm_limit=rpm_limit,
        tpm_limit=tpm_limit,
        allowed_models=allowed_models or [],
        expires_at=expires_at,
        validate_responses=validate_responses,
        cache_mode=cache_mode,
        cache_ttl_seconds=cache_ttl_seconds,
        allowed_agent_names=allowed_agent_names or [],
    )
    return raw, key


@dataclass(frozen=True)
class KeyInfo:
    """What a request needs to know about its key; safe to share between requests."""

    id: int
    prefix: str
    key_hash: str
    agent_name: str
    rpm_limit: int | None
    tpm_limit: int | None
    allowed_models: tuple[str, ...]
    validate_responses: bool
    expires_at: datetime | None
    revoked: bool
    # Response cache policy (llm_gateway/cache.py): "auto", "always" or "never".
    cache_mode: str = "auto"
    cache_ttl_seconds: int | None = None
    # Names X-Agent-Name may claim besides ``agent_name`` (names or fnmatch patterns).
    allowed_agent_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, key: GatewayKey) -> KeyInfo:
        return cls(
            key.id,
            key.prefix,
            key.key_hash,
            key.agent_name,
            key.rpm_limit,
            key.tpm_limit,
            tuple(key.allowed_models or ()),
            key.validate_responses,
            key.expires_at,
            key.revoked_at is not None,
            key.cache_mode,
            key.cache_ttl_seconds,
            tuple(str(name) for name in key.allowed_agent_names or ()),
        )

    def usable(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > now)


# A key's row, by prefix (None: no such key), and the keys whose last_used_at
# was written recently (written at most once a minute per key and process).
key_cache: ProcessCache[KeyInfo | None] = ProcessCache("gateway_keys", ttl=CACHE_SECONDS)
_touched: ProcessCache[bool] = ProcessCache("gateway_key_touches", ttl=LAST_USED_WRITE_EVERY)


def _last_used_due(key_id: int) -> bool:
    fresh, _ = _touched.peek(key_id)
    if fresh:
        return False
    _touched.put(key_id, True)
    return True


def _load(prefix: str) -> KeyInfo | None:
    key = GatewayKey.objects.filter(prefix=prefix).first()
    return KeyInfo.of(key) if key else None


def _touch(key_id: int) -> None:
    GatewayKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())


def key_presented(raw_key: str) -> KeyInfo | None:
    """The key a refused presentation named by its prefix, from the lookup that
    ``gateway_key_authenticate`` just cached (so no query): a refusal of a real
    key (wrong secret, revoked, expired) is recorded; an unknown prefix is not."""
    prefix = key_prefix_of(raw_key)
    if prefix is None:
        return None
    return key_cache.stale(prefix)


async def gateway_key_authenticate(raw_key: str) -> KeyInfo | None:
    """The key's info if the raw key is valid, active and unexpired; else None."""
    prefix = key_prefix_of(raw_key)
    if prefix is None:
        return None
    info = await key_cache.aget(prefix, lambda: sync_to_async(_load)(prefix))
    # Constant-time comparison: timing must not reveal how much of a hash matched.
    if info is None or not hmac.compare_digest(info.key_hash, key_hash(raw_key)):
        return None
    if not info.usable(timezone.now()):
        return None
    if _last_used_due(info.id):
        await sync_to_async(_touch)(info.id)
    return info
