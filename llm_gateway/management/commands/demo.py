"""The seed's demo: a few requests through the manager, each printed with its cost.

Works with or without ``OPENAI_API_KEY``: without one the mock provider answers
and the output says so. Every call is logged like any other.
"""

from __future__ import annotations

from decimal import Decimal

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand

from llm_gateway.interface import LLMError, LLMRequest
from llm_gateway.manager import LLMManager
from llm_gateway.provider_registry import mock_active

DEMO_REQUESTS = [
    ("CTO Agent", "In three sentences, what are the business benefits of moving to the cloud?"),
    ("Cloud Architect", "List three ways to cut the cost of a Kubernetes cluster."),
    (
        "Research Agent",
        'Answer in JSON with keys "summary" and "risks": is serverless a fit for a batch ETL job?',
    ),
]


class Command(BaseCommand):
    help = "Run a few demo requests through the gateway and print tokens and cost."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--max-tokens", type=int, default=200)

    def handle(self, *args: object, max_tokens: int, **options: object) -> None:
        if mock_active():
            self.stdout.write(
                self.style.WARNING("OPENAI_API_KEY is not set: using the mock provider.")
            )
        async_to_sync(self._run)(max_tokens)

    async def _run(self, max_tokens: int) -> None:
        manager = LLMManager()
        total, tokens = Decimal("0"), 0
        for agent, prompt in DEMO_REQUESTS:
            request = LLMRequest(prompt=prompt, max_tokens=max_tokens)
            try:
                response = await manager.generate_response(request, agent_name=agent)
            except LLMError as error:
                self.stdout.write(
                    self.style.ERROR(f"{agent}: {type(error).__name__}: {error.message}")
                )
                continue
            usage = response.token_usage
            total += usage.estimated_cost
            tokens += usage.total_tokens
            self.stdout.write(
                self.style.MIGRATE_HEADING(f"\n{agent} → {response.provider}/{response.model}")
            )
            self.stdout.write(response.content.strip())
            self.stdout.write(
                f"tokens: {usage.prompt_tokens} in / {usage.completion_tokens} out, "
                f"cost ${usage.estimated_cost:.6f}, {response.response_time * 1000:.0f} ms"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"\n{len(DEMO_REQUESTS)} requests, {tokens} tokens, total cost ${total:.6f}"
            )
        )
