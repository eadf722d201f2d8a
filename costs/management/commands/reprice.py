"""manage.py reprice --since DATE [--model M] [--provider P] [--by NAME]"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from costs.reprice import calls_reprice


class Command(BaseCommand):
    help = (
        "Recompute the cost of past calls from the price table (the price in force at each "
        "call's time), rebuild the affected rollups and record an audit entry."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", required=True, help="YYYY-MM-DD or an ISO time (UTC).")
        parser.add_argument("--model", default="", help="Only calls served by this model.")
        parser.add_argument("--provider", default="", help="Only this provider (kind or name).")
        parser.add_argument("--by", default="", help="Who asks (default: the OS user).")

    def handle(self, *args: Any, **options: Any) -> None:
        since = _parse_since(options["since"])
        audit = calls_reprice(
            since=since,
            model=options["model"],
            provider=options["provider"],
            by=options["by"] or getpass.getuser(),
        )
        self.stdout.write(
            f"Repriced {audit.calls} calls since {since:%Y-%m-%d %H:%M} UTC: "
            f"${audit.old_total} -> ${audit.new_total}"
        )


def _parse_since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--since: not a date: {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
