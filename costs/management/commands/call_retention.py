"""Apply call-log retention now, or print what it would remove (--dry-run)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from costs.retention import retention_apply, retention_plan, retention_summary


class Command(BaseCommand):
    help = (
        "Clear bodies older than CALL_BODY_RETENTION_DAYS and remove calls older than "
        "CALL_RETENTION_DAYS (whole months on PostgreSQL); rollups and budgets are kept."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be removed; change nothing."
        )

    def handle(self, *args: object, dry_run: bool, **options: object) -> None:
        plan = retention_plan()
        for line in retention_summary(plan):
            self.stdout.write(line)
        if dry_run:
            self.stdout.write("Dry run: nothing removed.")
            return
        done = retention_apply(now=plan.now)
        self.stdout.write(
            f"Cleared bodies of {done.bodies:,} calls, dropped {len(done.partitions)} "
            f"partitions, deleted {done.rows:,} calls."
        )
