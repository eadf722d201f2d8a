"""Fill the database with synthetic call history for the dashboards and benchmarks."""

from __future__ import annotations

from datetime import timedelta
from itertools import islice

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from calls.models import LLMCall
from costs.rollups import rollups_rebuild
from llm_gateway.demo_data import demo_calls_generate
from llm_gateway.demo_world import (
    demo_budgets_create,
    demo_feedback,
    demo_keys_create,
    demo_keys_touch,
    demo_validation_results,
    successful_calls,
)

BATCH = 2000
# Above this many calls the history is for benchmarks: no bodies, keys, feedback,
# validation results or budgets, whose extra rows would skew what they measure.
WORLD_MAX_CALLS = 20_000


class Command(BaseCommand):
    help = "Create N synthetic LLM calls spread over the last days (priced from the price table)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--calls", type=int, default=3000)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if calls exist.")
        parser.add_argument(
            "--calls-only",
            action="store_true",
            help="Only calls: no keys, bodies, validation results, budgets or alerts "
            f"(always so above {WORLD_MAX_CALLS:,} calls).",
        )

    def handle(
        self, *args: object, calls: int, days: int, seed: int, if_empty: bool, **options: object
    ) -> None:
        if if_empty and LLMCall.objects.exists():
            self.stdout.write("Calls already exist: demo data not added.")
            return
        now = timezone.now()
        world = not options.get("calls_only") and calls <= WORLD_MAX_CALLS
        keys = demo_keys_create() if world else None
        rows = demo_calls_generate(
            count=calls, days=days, now=now, seed=seed, bodies=world, keys=keys
        )
        created = 0
        while batch := list(islice(rows, BATCH)):
            with transaction.atomic():
                LLMCall.objects.bulk_create(batch)
            created += len(batch)
        # The rows carry past recorded_at values the rollup cursor never revisits.
        rollups_rebuild(start=now - timedelta(days=days), end=now + timedelta(minutes=1))
        self.stdout.write(f"Created {created} synthetic calls over {days} days.")
        if world:
            demo_keys_touch()
            results = demo_validation_results(successful_calls(), seed=seed)
            feedback = demo_feedback(seed=seed)
            demo_budgets_create(now=now)
            self.stdout.write(
                f"Added {len(keys or {})} gateway keys, {results} validation results, "
                f"{feedback} feedback scores, budgets and their alerts."
            )
