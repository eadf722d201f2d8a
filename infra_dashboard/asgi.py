"""ASGI entry point: the gateway streams, so production runs under an ASGI server."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")

application = get_asgi_application()
