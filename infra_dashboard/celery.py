"""Celery app.

Configured from Django settings (namespace ``CELERY``) so that an empty
``CELERY_BROKER_URL`` can switch every task to eager, in-process execution.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")

app = Celery("infra_dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _hear_other_processes(**_: object) -> None:
    """Each worker child keeps the same per-process caches as a server (validation
    rules, budgets, prices), so it listens for edits on the process bus too. Per
    child: a listening thread does not survive the fork."""
    from llm_gateway.process_bus import process_bus_listen

    process_bus_listen()
