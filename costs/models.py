"""Cost data: prices, budgets, alerts and rollups."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    AZURE_OPENAI = "azure_openai", "Azure OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"


_PRICE_HELP = "USD per 1M tokens."
_NOT_NEGATIVE = [MinValueValidator(Decimal("0"))]


def _price_field(*, nullable: bool = False, help_text: str = _PRICE_HELP) -> models.DecimalField:
    return models.DecimalField(
        max_digits=12,
        decimal_places=6,
        validators=_NOT_NEGATIVE,
        null=nullable,
        blank=nullable,
        help_text=help_text,
    )


class ModelPrice(models.Model):
    """List price of one model at one provider kind from ``effective_from`` on.

    A price change is a new row with a later ``effective_from``: the cost of a
    call uses the row in force when it was made, so old rows are history.
    """

    provider = models.CharField(max_length=32, choices=ProviderKind.choices)
    model = models.CharField(
        max_length=200,
        help_text="API model name, e.g. gpt-4o or claude-sonnet-4-5. Dated snapshots "
        "(gpt-4o-2024-08-06), provider prefixes (azure/…) and Bedrock/Vertex IDs resolve "
        "to this name unless they have a row of their own.",
    )
    input_per_m = _price_field()
    output_per_m = _price_field()
    cached_input_per_m = _price_field(
        nullable=True,
        help_text="USD per 1M cached (cache-read) input tokens. Empty: billed at the input price.",
    )
    cache_write_per_m = _price_field(
        nullable=True,
        help_text="USD per 1M cache-write tokens (Anthropic, 5-minute cache). "
        "Empty: billed at the input price.",
    )
    # Indexed: the price of a call is found by the latest effective_from <= call time.
    effective_from = models.DateTimeField(
        db_index=True,
        help_text="When this price starts to apply (UTC). To change a price, add a new row "
        "with a later date instead of editing this one, so past calls keep their cost.",
    )
    source = models.CharField(
        max_length=200, blank=True, help_text="Where the price comes from (URL or tags)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model", "effective_from"],
                name="costs_modelprice_unique_provider_model_from",
            ),
            models.CheckConstraint(
                condition=Q(input_per_m__gte=0)
                & Q(output_per_m__gte=0)
                & (Q(cached_input_per_m__isnull=True) | Q(cached_input_per_m__gte=0))
                & (Q(cache_write_per_m__isnull=True) | Q(cache_write_per_m__gte=0)),
                name="costs_modelprice_prices_not_negative",
                violation_error_message="Prices cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_from:%Y-%m-%d %H:%M}Z"


class Granularity(models.TextChoices):
    MINUTE = "minute"
    HOUR = "hour"


class UsageRollup(models.Model):
    """Calls aggregated per time bucket and (agent, model, provider).

    Dashboards and summaries read these instead of scanning the call log.
    A bucket row is always recomputed whole from the raw rows, which makes the
    rollup job idempotent: running it twice, or after late rows, never double
    counts. Latencies are kept as fixed-bucket histograms (costs.histogram).
    """

    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    bucket_start = models.DateTimeField()
    agent_name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    cached_tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    saved_cost = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    cache_hits = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    fallbacks = models.PositiveIntegerField(default=0)
    unpriced_calls = models.PositiveIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0)
    latency_hist = models.JSONField(default=list)
    ttft_count = models.PositiveIntegerField(default=0)
    ttft_hist = models.JSONField(default=list)
    error_types = models.JSONField(default=dict)  # {"LLMRateLimitError": 3, ...}
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["granularity", "bucket_start", "agent_name", "model", "provider"],
                name="usagerollup_unique_bucket",
            )
        ]
        # Every dashboard query is "this granularity, this time range".
        indexes = [models.Index(fields=["granularity", "bucket_start"], name="usagerollup_time")]

    def __str__(self) -> str:
        return (
            f"{self.granularity} {self.bucket_start:%Y-%m-%d %H:%M} {self.agent_name}/{self.model}"
        )


class RollupCursor(models.Model):
    """How far the rollup job has read the call log, by ``LLMCall.recorded_at``.

    Every call recorded before ``position`` is reflected in the rollups; the
    budget spend reads rollups up to here and the raw log after it.
    """

    name = models.CharField(max_length=32, primary_key=True)
    position = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.position:%Y-%m-%d %H:%M:%S}"


class BudgetScope(models.TextChoices):
    GLOBAL = "global", "All traffic"
    AGENT = "agent", "One agent"
    KEY = "key", "One gateway key"
    MODEL = "model", "One model"


class BudgetPeriod(models.TextChoices):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class BudgetAction(models.TextChoices):
    ALERT = "alert", "Alert only"
    BLOCK = "block", "Alert, and refuse calls once exhausted"


def _default_thresholds() -> list[str]:
    return ["0.5", "0.8", "1.0"]


class Budget(models.Model):
    """A spending limit for one scope over a calendar period (BUDGET_TIMEZONE).

    ``thresholds`` are fractions of ``amount``; each fires one alert per period.
    ``channels`` is a list of ``{"type": "email", "to": [...]}`` or
    ``{"type": "webhook", "url": "..."}``; webhook URLs often embed a token, so
    they are treated as secrets and never logged or shown in full.
    """

    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=BudgetScope.choices, default=BudgetScope.GLOBAL)
    scope_value = models.CharField(
        max_length=200, blank=True, help_text="Agent name or model name (agent and model scopes)."
    )
    gateway_key = models.ForeignKey(
        "llm_gateway.GatewayKey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="budgets",
        help_text="Key scope only.",
    )
    period = models.CharField(
        max_length=16, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY
    )
    amount = models.DecimalField(max_digits=14, decimal_places=4, help_text="USD per period.")
    thresholds = models.JSONField(
        default=_default_thresholds, blank=True, help_text='Fractions of the amount, e.g. ["0.8"].'
    )
    action = models.CharField(
        max_length=8, choices=BudgetAction.choices, default=BudgetAction.ALERT
    )
    channels = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="budget_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} (${self.amount} {self.period})"

    def clean(self) -> None:
        from costs.budgets import budget_validate  # the rules live with the services

        budget_validate(self)


class BudgetAlertEvent(models.Model):
    """One threshold crossed in one period. The unique constraint is what
    makes each threshold fire once per period, even with several workers."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alert_events")
    period_start = models.DateTimeField()
    # Decimal, not float: uniqueness on 0.8 must not depend on binary rounding.
    threshold = models.DecimalField(max_digits=6, decimal_places=4)
    spend = models.DecimalField(max_digits=24, decimal_places=10)
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    created_at = models.DateTimeField(auto_now_add=True)
    # Delivery bookkeeping: a worker claims the event until claimed_until.
    claimed_until = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    deliveries = models.JSONField(default=dict, blank=True)  # channel index -> "sent"
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start", "threshold"], name="budgetalert_once_per_period"
            )
        ]

    def __str__(self) -> str:
        percent = self.threshold * 100
        return f"{self.budget.name} {percent:.0f}% from {self.period_start:%Y-%m-%d %H:%M}"
