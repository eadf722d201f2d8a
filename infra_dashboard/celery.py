"""Celery app.

Configured from Django settings (namespace ``CELERY``) so that an empty
``CELERY_BROKER_URL`` can switch every task to eager, in-process execution.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")

app = Celery("infra_dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
