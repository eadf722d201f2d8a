"""The project package as an app: templates, commands and its own system checks."""

from __future__ import annotations

from django.apps import AppConfig


class InfraDashboardConfig(AppConfig):
    name = "infra_dashboard"

    def ready(self) -> None:
        # Registers the deploy checks (dev SECRET_KEY, dev key pepper).
        from infra_dashboard import security  # noqa: F401
