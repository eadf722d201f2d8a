"""Serve the gateway and dashboards with the production server settings.

``uvicorn infra_dashboard.asgi:application`` works too, but takes uvicorn's own
defaults; this command applies the gateway's (llm_gateway.serving): above all a
keep-alive longer than the agents' connection pools.
"""

from __future__ import annotations

import uvicorn
from django.core.management.base import BaseCommand, CommandError

from llm_gateway.serving import APP, server_options


class Command(BaseCommand):
    help = "Serve the gateway (ASGI, uvicorn) with the production server settings."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers", type=int, default=1, help="Server processes (one event loop each)."
        )
        parser.add_argument(
            "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
        )

    def handle(
        self, *args: object, host: str, port: int, workers: int, log_level: str, **options: object
    ) -> None:
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        uvicorn.run(
            APP, **server_options(host=host, port=port, workers=workers, log_level=log_level)
        )
