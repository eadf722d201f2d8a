"""Every API handler the ASGI router serves directly, by exact path."""

from __future__ import annotations

from llm_gateway.api.endpoints_operations import HANDLERS
from llm_gateway.api.http import Handler
from llm_gateway.api.views import FAST_ROUTES as CHAT_ROUTES

FAST_ROUTES: dict[str, Handler] = {**CHAT_ROUTES, **HANDLERS}
