from __future__ import annotations

from django.apps import AppConfig


class LlmGatewayConfig(AppConfig):
    """The gateway (API, manager, providers). Its models live in ``calls``,
    which keeps the ``llm_gateway`` label, so this app takes another."""

    name = "llm_gateway"
    label = "gateway"
    verbose_name = "LLM gateway: API and routing"
