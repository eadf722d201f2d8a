"""What the SDK-backed providers share: error mapping, model listing, health checks.

The OpenAI and Anthropic SDKs are generated from the same template, so their
exception classes have the same names and meanings; only the status codes each
vendor uses differently are mapped per provider (``map_status_error``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from types import ModuleType
from typing import Any

from llm_gateway.interface import LLMError, LLMProvider, LLMProviderError, LLMTimeoutError

logger = logging.getLogger(__name__)


def retry_after_seconds(headers: Any) -> float | None:
    """Read ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def map_sdk_error(sdk: ModuleType, exc: Exception, provider: str, status_error: Any) -> LLMError:
    """Timeouts, unreachable hosts and other non-HTTP failures the same way for
    every SDK; an HTTP status error goes to the provider's ``status_error``."""
    if isinstance(exc, sdk.APITimeoutError):
        return LLMTimeoutError("The provider did not answer in time.", provider=provider)
    if isinstance(exc, sdk.APIConnectionError):
        return LLMProviderError(f"Could not reach the provider: {exc}", provider=provider)
    if not isinstance(exc, sdk.APIStatusError):
        return LLMProviderError(str(exc), provider=provider)
    return status_error(exc, provider)


class SDKProvider(LLMProvider):
    """A provider answering through a vendor SDK's async client."""

    sdk: ModuleType  # the SDK module (openai, anthropic)
    sdk_error: type[Exception]  # the SDK's root exception (openai.OpenAIError, …)

    def client(self) -> Any:
        raise NotImplementedError

    def map_error(self, exc: Exception) -> LLMError:
        raise NotImplementedError

    async def _models_page(self, limit: int | None) -> Any:
        """One page of the provider's model list (free: never a completion)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def sdk_errors(self, *, streaming: bool = False) -> Iterator[None]:
        """The SDK's errors as the gateway's; mid-stream, anything else the HTTP
        library raises means the stream broke."""
        try:
            yield
        except self.sdk_error as exc:
            raise self.map_error(exc) from exc
        except LLMError:
            raise
        except ValueError as exc:
            if streaming:
                raise LLMProviderError(f"The stream broke: {exc}", provider=self.name) from exc
            raise LLMProviderError(
                "The provider answered with invalid JSON.", provider=self.name
            ) from exc
        except Exception as exc:
            if not streaming:
                raise
            raise LLMProviderError(f"The stream broke: {exc}", provider=self.name) from exc

    async def list_models(self) -> list[str]:
        try:
            page = await self._models_page(1000)
        except self.sdk_error as exc:
            logger.warning("provider %s: listing models failed (%s)", self.name, type(exc).__name__)
            return []
        return [m.id for m in page.data]

    async def health_check(self) -> dict[str, Any]:
        """Lists models: free, and proves the endpoint and the key."""
        started = time.monotonic()
        try:
            await self._models_page(1)
        except self.sdk_error as exc:
            error = self.map_error(exc)
            return {"provider": self.name, "kind": self.kind, "healthy": False, "error": error.code}
        latency = (time.monotonic() - started) * 1000
        return {"provider": self.name, "kind": self.kind, "healthy": True, "latency_ms": latency}
