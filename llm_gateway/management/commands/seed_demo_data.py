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

BATCH = 2000


class Command(BaseCommand):
    help = "Create N synthetic LLM calls spread over the last days (priced from the price table)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--calls", type=int, default=3000)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--if-empty", action="store_true", help="Do nothing if calls exist.")

    def handle(
        self, *args: object, calls: int, days: int, seed: int, if_empty: bool, **options: object
    ) -> None:
        if if_empty and LLMCall.objects.exists():
            self.stdout.write("Calls already exist: demo data not added.")
            return
        now = timezone.now()
        rows = demo_calls_generate(count=calls, days=days, now=now, seed=seed)
        created = 0
        while batch := list(islice(rows, BATCH)):
            with transaction.atomic():
                LLMCall.objects.bulk_create(batch)
            created += len(batch)
        # The rows carry past recorded_at values the rollup cursor never revisits.
        rollups_rebuild(start=now - timedelta(days=days), end=now + timedelta(minutes=1))
        self.stdout.write(f"Created {created} synthetic calls over {days} days.")
