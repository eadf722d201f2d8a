"""How the gateway is served: one set of server options for every way it runs.

``manage.py serve`` (production, ``make run``, the benches) and the tests' live
servers take their uvicorn settings from here, so what is tested is what runs.

The one setting that is not uvicorn's default is the keep-alive. uvicorn closes
an idle connection after 5 s, and the OpenAI SDK's connection pool (httpx)
expires idle connections after the same 5 s. When both clocks run out together
the agent sends its next request into a socket the server is closing, and the
kernel answers with a reset: the request is lost before the gateway reads it
(the soak saw a few per ten thousand calls, each a ``ReadError`` at the agent).
A server that waits longer than its clients never closes first.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

APP = "infra_dashboard.asgi:application"


def server_options(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``."""
    options: dict[str, Any] = {
        "timeout_keep_alive": settings.GATEWAY_KEEP_ALIVE_SECONDS,
        "access_log": False,  # every call is in the database; a line per request is CPU
        "loop": "uvloop",
        "http": "httptools",
        "lifespan": "on",  # shutdown drains the background record writer
    }
    options.update(overrides)
    return options
