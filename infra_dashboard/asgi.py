"""ASGI entry point: the gateway streams, so production runs under an ASGI server.

The application itself (the API's fast routes, Django for the rest, the
lifespan) is ``llm_gateway.api.asgi``; this module only sets Django up first.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")

django_application = get_asgi_application()

# Django loads the URLconf on the first request; load it now, so fifty
# concurrent first calls do not all race to import every view module.
from django.urls import get_resolver  # noqa: E402 - needs Django set up

get_resolver().url_patterns  # noqa: B018

from infra_dashboard.scheduler import periodic_jobs_start, periodic_jobs_stop  # noqa: E402
from llm_gateway.api.asgi import gateway_application  # noqa: E402 - needs Django set up
from llm_gateway.gc_tuning import gc_tune  # noqa: E402

application = gateway_application(
    django_application, on_startup=periodic_jobs_start, on_shutdown=periodic_jobs_stop
)

gc_tune()  # last: everything imported so far is long-lived
