from __future__ import annotations

from django.apps import AppConfig


class LlmGatewayConfig(AppConfig):
    """The gateway (API, manager, providers). Its models live in ``calls``,
    which keeps the ``llm_gateway`` label, so this app takes another."""

    name = "llm_gateway"
    label = "gateway"
    verbose_name = "LLM gateway: API and routing"

    def ready(self) -> None:
        # Models and the modules that use them import only once the registry is ready.
        from costs.pricing import ausage_cost
        from llm_gateway.interface import usage_pricer_register
        from llm_gateway.process_bus import process_bus_install
        from llm_gateway.telemetry import telemetry_configure

        # A provider used alone (the seed's API) prices its answer with costs'
        # table; providers themselves never import costs.
        usage_pricer_register(ausage_cost)
        # OpenTelemetry export when an OTLP endpoint is configured; otherwise this
        # reads a few environment variables and loads nothing.
        telemetry_configure()
        # With REDIS_URL, cache invalidations and circuit changes reach every
        # process (servers start listening in the ASGI lifespan).
        process_bus_install()
