"""Bring the usage rollups up to date (what the periodic task does), or rebuild them."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from costs.rollups import rollups_rebuild_all, rollups_update


class Command(BaseCommand):
    help = "Fold newly recorded calls into the usage rollups; --rebuild recomputes every bucket."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="Recompute all buckets that have calls (after a bulk import or a repricing).",
        )

    def handle(self, *args: object, rebuild: bool, **options: object) -> None:
        written = rollups_rebuild_all() if rebuild else rollups_update()
        self.stdout.write(f"Rewrote {written} rollup buckets.")
