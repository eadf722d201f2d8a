"""Admin for prices and budgets."""

from __future__ import annotations

from django.contrib import admin

from costs.models import Budget, BudgetAlertEvent, ModelPrice


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


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["name", "scope", "scope_value", "period", "amount", "action", "enabled"]
    list_filter = ["scope", "period", "action", "enabled"]
    search_fields = ["name", "scope_value"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(BudgetAlertEvent)
class BudgetAlertEventAdmin(admin.ModelAdmin):
    list_display = ["budget", "period_start", "threshold", "spend", "delivered_at", "failed_at"]
    list_filter = ["budget"]
    # Events are history: written by budget evaluation, never by hand.
    readonly_fields = [f.name for f in BudgetAlertEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
