"""ASGI entry point: the gateway streams, so production runs under an ASGI server."""

import importlib
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")

application = get_asgi_application()

# Import now, not on the first requests, what the request path would otherwise
# import lazily (the URLconf, and modules imported inside functions to avoid
# cycles): fifty concurrent first calls importing httpx or redis.asyncio in
# parallel threads see half-initialised modules and answer 500.
from django.urls import get_resolver  # noqa: E402

get_resolver().url_patterns  # noqa: B018
for _module in (
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
