"""Anthropic's 1-hour cache writes get a price of their own (2x input, against
1.25x for the 5-minute ones); the price table is a few dozen rows, so
re-creating its CHECK constraint costs nothing."""

import django.core.validators
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0006_usagerollup_operation"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="modelprice",
            name="costs_modelprice_prices_not_negative",
        ),
        migrations.AddField(
            model_name="modelprice",
            name="cache_write_1h_per_m",
            field=models.DecimalField(
                blank=True,
                decimal_places=6,
                help_text="USD per 1M cache-write tokens with a 1-hour lifetime (Anthropic, cache_control ttl 1h). Empty: billed at the 5-minute cache-write price.",
                max_digits=12,
                null=True,
                validators=[django.core.validators.MinValueValidator(Decimal("0"))],
            ),
        ),
        migrations.AddConstraint(
            model_name="modelprice",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("input_per_m__gte", 0),
                    ("output_per_m__gte", 0),
                    models.Q(
                        ("cached_input_per_m__isnull", True),
                        ("cached_input_per_m__gte", 0),
                        _connector="OR",
                    ),
                    models.Q(
                        ("cache_write_per_m__isnull", True),
                        ("cache_write_per_m__gte", 0),
                        _connector="OR",
                    ),
                    models.Q(
                        ("cache_write_1h_per_m__isnull", True),
                        ("cache_write_1h_per_m__gte", 0),
                        _connector="OR",
                    ),
                ),
                name="costs_modelprice_prices_not_negative",
                violation_error_message="Prices cannot be negative.",
            ),
        ),
    ]
