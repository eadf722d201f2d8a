"""Rows for tests, built with factory_boy.

Factories add nothing a test did not ask for beyond the model's own defaults,
so a test states every field its assertion depends on. ``LLMCallFactory`` has
a ``billed`` trait (cost from the price table, as the gateway records it) and
``UsageRollupFactory`` turns ``latencies``/``ttfts`` into the row's histograms.
"""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from calls.models import GatewayKey, LLMCall
from common import histogram
from costs.models import Budget, UsageRollup
from costs.pricing import call_cost, price_for
from validation.models import ValidationResult


def _histogram(values: tuple[float, ...]) -> list[int]:
    counts = histogram.empty()
    for value in values:
        histogram.add(counts, value)
    return counts


def _priced_cost(call: LLMCall) -> Decimal:
    price = price_for(call.model, provider=call.provider or "openai")
    return call_cost(
        price, prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens
    )


class LLMCallFactory(DjangoModelFactory):
    class Meta:
        model = LLMCall

    created_at = factory.LazyFunction(timezone.now)

    class Params:
        # The cost the gateway would record for these tokens at today's price.
        billed = factory.Trait(
            total_tokens=factory.LazyAttribute(lambda o: o.prompt_tokens + o.completion_tokens),
            cost=factory.LazyAttribute(_priced_cost),
        )


class GatewayKeyFactory(DjangoModelFactory):
    """A key row without a usable secret (``make_key`` in conftest gives a real one)."""

    class Meta:
        model = GatewayKey

    name = factory.Sequence(lambda n: f"key {n}")
    agent_name = "test-agent"
    prefix = factory.Sequence(lambda n: f"gw_{n:08x}")
    key_hash = "not-a-real-hash"


class BudgetFactory(DjangoModelFactory):
    class Meta:
        model = Budget

    name = factory.Sequence(lambda n: f"budget {n}")
    amount = Decimal("10")


class UsageRollupFactory(DjangoModelFactory):
    """One rollup row; ``latencies``/``ttfts`` become its histograms and ``calls``
    defaults to how many latencies were given."""

    class Meta:
        model = UsageRollup

    class Params:
        latencies: tuple[float, ...] = ()
        ttfts: tuple[float, ...] = ()

    granularity = "hour"
    agent_name = "agent-a"
    model = "gpt-4o-mini"
    provider = "openai"
    calls = factory.LazyAttribute(lambda o: len(o.latencies))
    latency_hist = factory.LazyAttribute(lambda o: _histogram(o.latencies))
    latency_sum_ms = factory.LazyAttribute(lambda o: sum(o.latencies))
    ttft_hist = factory.LazyAttribute(lambda o: _histogram(o.ttfts))
    ttft_count = factory.LazyAttribute(lambda o: len(o.ttfts))


class ValidationResultFactory(DjangoModelFactory):
    class Meta:
        model = ValidationResult

    call = factory.SubFactory(LLMCallFactory)
    call_created_at = factory.SelfAttribute("call.created_at")
    is_valid = True
    quality_score = 1.0
    agent_name = factory.SelfAttribute("call.agent_name")
