"""WSGI entry point, for tooling that expects one; streaming needs ASGI."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")

application = get_wsgi_application()
