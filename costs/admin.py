"""Admin for prices, budgets, alert events, in-app alerts and reprice audits."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from costs.alerts import in_app_alert_resolve
from costs.forms import BudgetAdminForm
from costs.models import Budget, BudgetAlertEvent, InAppAlert, ModelPrice, RepriceAudit
from costs.selectors import BudgetStatus, budget_status
from dashkit.formatting import percent, usd


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "model",
        "input_per_m",
        "cached_input_per_m",
        "cache_write_per_m",
        "cache_write_1h_per_m",
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
                    "cache_write_1h_per_m",
                    "output_per_m",
                ]
            },
        ),
        ("Audit", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    """Budgets with their spend this period. Validation (amount, thresholds,
    emails, webhook URL, downgrade model) is the model's ``clean``, so a bad
    value comes back as a form error, never a 500; thresholds are typed as on
    the budgets page (costs.forms.ThresholdsField)."""

    form = BudgetAdminForm

    list_display = [
        "name",
        "scope",
        "scope_value",
        "period",
        "amount_usd",
        "spent_this_period",
        "percent_used",
        "action",
        "enabled",
    ]
    list_filter = ["scope", "period", "action", "enabled"]
    search_fields = ["name", "scope_value"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "enabled", "scope", "scope_value", "period", "amount"]}),
        ("Action", {"fields": ["action", "downgrade_model", "thresholds"]}),
        ("Alert channels", {"fields": ["emails", "webhook_url", "in_app"]}),
        ("Audit", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Budget]:
        self._statuses: dict[int, BudgetStatus] = {}
        return super().get_queryset(request)

    def _status(self, budget: Budget) -> BudgetStatus:
        cache = getattr(self, "_statuses", {})
        if budget.pk not in cache:
            cache[budget.pk] = budget_status(budget=budget)
        return cache[budget.pk]

    @admin.display(description="Amount", ordering="amount")
    def amount_usd(self, budget: Budget) -> str:
        return usd(budget.amount)

    @admin.display(description="Spent this period")
    def spent_this_period(self, budget: Budget) -> str:
        return usd(self._status(budget).spend)

    @admin.display(description="% used")
    def percent_used(self, budget: Budget) -> str:
        return f"{self._status(budget).percent:.0f}%"


@admin.register(BudgetAlertEvent)
class BudgetAlertEventAdmin(admin.ModelAdmin):
    list_display = [
        "budget",
        "period_start",
        "threshold_pct",
        "spent_usd",
        "email_status",
        "webhook_status",
        "in_app_status",
        "attempts",
        "delivered_at",
        "failed_at",
    ]
    list_filter = ["budget", "email_status", "webhook_status", "in_app_status"]
    # Events are history: written by budget evaluation and delivery, never by hand.
    readonly_fields = [f.name for f in BudgetAlertEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="Threshold", ordering="threshold")
    def threshold_pct(self, event: BudgetAlertEvent) -> str:
        return percent(event.threshold)

    @admin.display(description="Spent", ordering="spent")
    def spent_usd(self, event: BudgetAlertEvent) -> str:
        return usd(event.spent)


InAppAlert._meta.verbose_name = "in-app alert"  # not "in app alert"; no migration for a label
InAppAlert._meta.verbose_name_plural = "in-app alerts"


@admin.register(InAppAlert)
class InAppAlertAdmin(admin.ModelAdmin):
    list_display = ["title", "level", "budget", "created_at", "acknowledged_at", "resolved_at"]
    list_filter = ["level", ("resolved_at", admin.EmptyFieldListFilter)]
    readonly_fields = [
        "level",
        "title",
        "message",
        "budget",
        "dedupe_key",
        "created_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_by",
    ]
    actions = ["resolve"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark resolved")
    def resolve(self, request: HttpRequest, queryset: QuerySet[InAppAlert]) -> None:
        for alert_id in queryset.values_list("id", flat=True):
            in_app_alert_resolve(alert_id=alert_id)


@admin.register(RepriceAudit)
class RepriceAuditAdmin(admin.ModelAdmin):
    list_display = ["created_at", "since", "model", "provider", "calls", "old_total", "new_total"]
    readonly_fields = [f.name for f in RepriceAudit._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
