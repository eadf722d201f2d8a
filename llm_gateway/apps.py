from django.apps import AppConfig


class LlmGatewayConfig(AppConfig):
    name = "llm_gateway"
    verbose_name = "LLM gateway"

    def ready(self) -> None:
        # OpenTelemetry export when an OTLP endpoint is configured; otherwise this
        # reads a few environment variables and loads nothing.
        from llm_gateway.telemetry import telemetry_configure

        telemetry_configure()
