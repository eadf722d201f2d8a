"""Admin for prices and budgets."""

from __future__ import annotations

from django.contrib import admin

from costs.models import ModelPrice


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "model",
        "input_per_m",
        "cached_input_per_m",
        "cache_write_per_m",
        "output_per_m",
        "effective_from",
        "source",
    ]
    list_filter = ["provider"]
    search_fields = ["model"]
    ordering = ["provider", "model", "-effective_from"]
    date_hierarchy = "effective_from"
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (
            None,
            {
                "fields": ["provider", "model", "effective_from", "source"],
                "description": (
                    "Prices are USD per 1M tokens. To change a price, add a new row with a "
                    "later effective_from rather than editing this one: each call is costed "
                    "with the price in force when it was made, so editing an old row "
                    "rewrites history. Edit a row only to fix a mistake."
                ),
            },
        ),
        (
            "Prices (USD per 1M tokens)",
            {
                "fields": [
                    "input_per_m",
                    "cached_input_per_m",
                    "cache_write_per_m",
                    "output_per_m",
                ]
            },
        ),
        ("Audit", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
