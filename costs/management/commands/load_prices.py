"""manage.py load_prices: seed or refresh the price table from a JSON file."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from costs.models import ModelPrice

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "fixtures" / "prices.json"
_PRICE_KEYS = {
    "input": "input_per_m",
    "output": "output_per_m",
    "cached_input": "cached_input_per_m",
    "cache_write": "cache_write_per_m",
    "cache_write_1h": "cache_write_1h_per_m",
}


class Command(BaseCommand):
    help = (
        "Load model prices (USD per 1M tokens) from a JSON list. Idempotent: rows are "
        "matched on (provider, model, effective_from); unchanged rows are not written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="JSON price list")

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        rows = _read(file)
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        # All or nothing: a bad row halfway must not leave half a price list.
        with transaction.atomic():
            for number, row in enumerate(rows, start=1):
                counts[_upsert(number, row)] += 1
        self.stdout.write(
            f"{counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged ({len(rows)} rows in {file})"
        )


def _read(file: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {file}: {exc}") from exc
    if not isinstance(rows, list):
        raise CommandError(f"{file}: expected a JSON list of price rows")
    return rows


def _upsert(number: int, row: dict[str, Any]) -> str:
    """update_or_create on the natural key, but skip the write when nothing
    changed, so a re-run does not touch updated_at or reload every process."""
    try:
        key, values = _parse(row)
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise CommandError(f"row {number}: {exc!r} in {row}") from exc
    price = ModelPrice.objects.filter(**key).first()
    if price is not None and all(getattr(price, f) == v for f, v in values.items()):
        return "unchanged"
    price = price or ModelPrice(**key)
    for field, value in values.items():
        setattr(price, field, value)
    try:
        price.full_clean()
    except ValidationError as exc:
        raise CommandError(f"row {number}: {exc.messages} in {row}") from exc
    created = price.pk is None
    price.save()
    return "created" if created else "updated"


def _parse(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Prices are strings in the file so they reach Decimal without a float."""
    when = datetime.fromisoformat(row["effective_from"])
    if when.utcoffset() is None:
        raise ValueError("effective_from needs a timezone, e.g. 2024-01-01T00:00:00Z")
    key = {"provider": row["provider"], "model": row["model"], "effective_from": when}
    values: dict[str, Any] = {"source": row.get("source", "")}
    for json_key, field in _PRICE_KEYS.items():
        raw = row.get(json_key)
        if json_key in ("input", "output") and raw is None:
            raise KeyError(json_key)
        values[field] = None if raw is None else _decimal(raw)
    return key, values


def _decimal(raw: object) -> Decimal:
    if not isinstance(raw, str):  # a JSON number has already been through a float
        raise ValueError(f'price {raw!r} must be a string such as "2.50"')
    return Decimal(raw)
