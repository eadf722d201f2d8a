"""ASGI entry point: the gateway streams, so production runs under an ASGI server.

The agent-facing API endpoints are routed straight to their handlers; every
other path (pages, admin, probes) goes through Django as usual. The lifespan
protocol is answered here so the server can tell the app it is stopping.
"""

import importlib
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")

django_application = get_asgi_application()

# Import now, not on the first requests, what the request path would otherwise
# import lazily (the URLconf, and modules imported inside functions to avoid
# cycles): fifty concurrent first calls importing httpx or redis.asyncio in
# parallel threads saw half-initialised modules and answered 500 (the soak).
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
for _module in (
    "aiohttp",
    "costs.budgets",
    "costs.notifications",
    "costs.tasks",
    "llm_gateway.metrics",
    "redis.asyncio",
    "validation.services",
    "validation.tasks",
    "validation.validator",
):
    importlib.import_module(_module)

from llm_gateway.api.database_thread import api_database_context  # noqa: E402
from llm_gateway.api.http import serve_asgi  # noqa: E402 - needs Django set up
from llm_gateway.api.views import FAST_ROUTES  # noqa: E402
from llm_gateway.gc_tuning import gc_tune  # noqa: E402

gc_tune()  # last: everything imported so far is long-lived


async def _lifespan(receive, send) -> None:
    from llm_gateway.recorder import records_flush
    from llm_gateway.spool_recovery import spool_sweeper_start, spool_sweeper_stop

    sweeper = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Replays what killed processes left in the spool, then keeps watching.
            sweeper = spool_sweeper_start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await records_flush()
            await spool_sweeper_stop(sweeper)
            await send({"type": "lifespan.shutdown.complete"})
            return


async def application(scope, receive, send) -> None:
    if scope["type"] == "http":
        handler = FAST_ROUTES.get(scope["path"])
        if handler is not None:
            # The API's database work on its own thread, never behind a page's.
            async with api_database_context():
                return await serve_asgi(handler, scope, receive, send)
    elif scope["type"] == "lifespan":
        return await _lifespan(receive, send)
    return await django_application(scope, receive, send)
