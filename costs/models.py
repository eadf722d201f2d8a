"""Cost data: prices, budgets, alerts and rollups."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from costs.budget_rules import BudgetAction, BudgetPeriod, BudgetScope, budget_validate


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
    cache_write_1h_per_m = _price_field(
        nullable=True,
        help_text="USD per 1M cache-write tokens with a 1-hour lifetime (Anthropic, "
        "cache_control ttl 1h). Empty: billed at the 5-minute cache-write price.",
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
                & (Q(cache_write_per_m__isnull=True) | Q(cache_write_per_m__gte=0))
                & (Q(cache_write_1h_per_m__isnull=True) | Q(cache_write_1h_per_m__gte=0)),
                name="costs_modelprice_prices_not_negative",
                violation_error_message="Prices cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} from {self.effective_from:%Y-%m-%d %H:%M}Z"


class Granularity(models.TextChoices):
    MINUTE = "minute"
    HOUR = "hour"


class UsageSums(models.Model):
    """A time bucket, the dimensions of a call, and the sums every rollup keeps:
    the usage reads (costs.usage ``totals_of``) sum any rollup built on this."""

    bucket_start = models.DateTimeField()
    agent_name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    operation = models.CharField(max_length=16, default="chat")  # LLMCall.operation
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

    class Meta:
        abstract = True


class UsageRollup(UsageSums):
    """Calls aggregated per time bucket and (agent, model, provider, operation).

    Dashboards and summaries read these instead of scanning the call log.
    A bucket row is always recomputed whole from the raw rows, which makes the
    rollup job idempotent: running it twice, or after late rows, never double
    counts. Latencies are kept as fixed-bucket histograms (common.histogram).
    """

    granularity = models.CharField(max_length=8, choices=Granularity.choices)
    latency_sum_ms = models.FloatField(default=0)
    latency_hist = models.JSONField(default=list)
    ttft_count = models.PositiveIntegerField(default=0)
    ttft_hist = models.JSONField(default=list)
    error_types = models.JSONField(default=dict)  # {"LLMRateLimitError": 3, ...}
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "granularity",
                    "bucket_start",
                    "agent_name",
                    "model",
                    "provider",
                    "operation",
                ],
                name="usagerollup_unique_bucket_op",
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
    budget spend reads rollups up to here and the raw log after it. Retention
    keeps its own cursor here too (costs.retention: bodies cleared up to there).
    """

    name = models.CharField(max_length=32, primary_key=True)
    position = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.position:%Y-%m-%d %H:%M:%S}"


class SessionSummary(models.Model):
    """One session (``LLMCall.session_id``): what the sessions list shows.

    Recomputed whole from the session's calls whenever the rollup job sees a
    new or late call of it (costs.attribution_rollups), so re-runs never double
    count. ``facets`` holds the agents and tags as delimited text: a filter is
    then one ``contains`` that SQLite and PostgreSQL both answer, where JSON
    containment exists on PostgreSQL only.
    """

    session_id = models.CharField(max_length=200, primary_key=True)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    duration_s = models.FloatField(default=0)  # last call's start minus the first's
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    cost = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    agents = models.JSONField(default=list)
    end_user = models.CharField(max_length=256, blank=True)  # the latest call's
    tags = models.JSONField(default=list)  # ["name=value", ...]
    facets = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Each list order is walked by keyset (value, session_id) from its index.
        indexes = [
            models.Index(fields=["-last_at", "-session_id"], name="session_recent"),
            models.Index(fields=["-cost", "-session_id"], name="session_cost"),
            models.Index(fields=["-calls", "-session_id"], name="session_calls"),
            models.Index(fields=["-duration_s", "-session_id"], name="session_duration"),
            models.Index(fields=["-errors", "-session_id"], name="session_errors"),
            models.Index(
                fields=["end_user", "-last_at"],
                name="session_user_recent",
                condition=~models.Q(end_user=""),
            ),
        ]

    def __str__(self) -> str:
        return self.session_id

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.duration_s)


class AttributedDaily(UsageSums):
    """Calls of one UTC day and (agent, model, provider, operation), for one end
    user or one tag: the sums of ``UsageRollup`` without its latencies."""

    last_seen = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


_DIMENSIONS = ["agent_name", "model", "provider", "operation"]


class UserDailyRollup(AttributedDaily):
    """Spend of one end user (``LLMCall.end_user``) per day: the users page and
    the costs page's user filter and grouping. Calls without a user are not here."""

    end_user = models.CharField(max_length=256)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket_start", "end_user", *_DIMENSIONS], name="userdaily_unique"
            )
        ]
        indexes = [
            models.Index(fields=["bucket_start"], name="userdaily_time"),
            models.Index(fields=["end_user", "bucket_start"], name="userdaily_user_time"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d} {self.end_user}"


class TagDailyRollup(AttributedDaily):
    """Spend per tag (``name=value``) per day. A call with three tags is in three
    rows, so sums across tags count it three times: read one tag, or group by tag."""

    tag_name = models.CharField(max_length=64)
    tag = models.CharField(max_length=321)  # "name=value", the filter's own form

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket_start", "tag", *_DIMENSIONS], name="tagdaily_unique"
            )
        ]
        indexes = [
            models.Index(fields=["tag", "bucket_start"], name="tagdaily_tag_time"),
            models.Index(fields=["tag_name", "bucket_start"], name="tagdaily_name_time"),
            models.Index(fields=["bucket_start"], name="tagdaily_time"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket_start:%Y-%m-%d} {self.tag}"


def _default_thresholds() -> list[float]:
    return [0.5, 0.8, 1.0]


class Budget(models.Model):
    """A spending limit for one scope over a calendar period (BUDGET_TIMEZONE).

    ``scope_value`` names the agent, the model, or the gateway key's public
    prefix (never the key itself). ``thresholds`` are fractions of ``amount``
    (JSON numbers); each fires one alert per period. ``webhook_url`` often
    embeds a token, so it is treated as a secret: never logged or shown.
    """

    name = models.CharField(max_length=200)
    scope = models.CharField(max_length=16, choices=BudgetScope.choices, default=BudgetScope.GLOBAL)
    scope_value = models.CharField(
        max_length=200,
        blank=True,
        help_text="Agent name, gateway-key prefix (e.g. gw_1a2b3c4d), model, end user, or tag "
        "as name=value; blank for global.",
    )
    period = models.CharField(
        max_length=16, choices=BudgetPeriod.choices, default=BudgetPeriod.MONTHLY
    )
    amount = models.DecimalField(max_digits=14, decimal_places=4, help_text="USD per period.")
    thresholds = models.JSONField(
        default=_default_thresholds,
        blank=True,
        help_text="Fractions of the amount, e.g. [0.5, 0.8, 1.0]; up to 10 (1000 %).",
    )
    action = models.CharField(
        max_length=16, choices=BudgetAction.choices, default=BudgetAction.ALERT
    )
    downgrade_model = models.CharField(
        max_length=200, blank=True, help_text="Downgrade action only: the model to serve instead."
    )
    emails = models.CharField(max_length=1000, blank=True, help_text="Comma-separated addresses.")
    # A CharField checked by budget_validate (http/https, not the gateway itself).
    webhook_url = models.CharField(
        max_length=1000, blank=True, help_text="Slack-compatible incoming webhook (http/https)."
    )
    in_app = models.BooleanField(default=True, help_text="Show alerts in the dashboard.")
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
        budget_validate(self)

    @property
    def email_list(self) -> list[str]:
        return [a.strip() for a in self.emails.split(",") if a.strip()]

    @property
    def channels(self) -> list[dict[str, object]]:
        """Read-only view in the shape of the former ``channels`` field, for pages
        written against it. Webhooks appear without their (secret) URL."""
        channels: list[dict[str, object]] = []
        if self.email_list:
            channels.append({"type": "email", "to": self.email_list})
        if self.webhook_url:
            channels.append({"type": "webhook"})
        return channels


class BudgetCounter(models.Model):
    """Spend and in-flight reservations of one budget in one period.

    The hot path's source of truth for enforcement: a call reserves its
    worst-case cost here before it reaches a provider and settles (releases
    the reservation, adds the real cost) when it is recorded, all under a row
    lock. The periodic evaluation reconciles ``spent`` with the call log.
    """

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="counters")
    period_start = models.DateTimeField()
    spent = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    reserved = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period_start"], name="budgetcounter_one_per_period"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.budget_id} @ {self.period_start:%Y-%m-%d %H:%M}: {self.spent}+{self.reserved}"
        )


class DeliveryStatus(models.TextChoices):
    NONE = "none", "not configured"
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


CHANNELS = ("email", "webhook", "in_app")


def _status_field() -> models.CharField:
    return models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.NONE
    )


class BudgetAlertEvent(models.Model):
    """One threshold crossed in one period. The unique constraint is what
    makes each threshold fire once per period, even with several workers."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alert_events")
    period_start = models.DateTimeField()
    # Decimal, not float: uniqueness on 0.8 must not depend on binary rounding.
    threshold = models.DecimalField(max_digits=6, decimal_places=4)
    spent = models.DecimalField(max_digits=24, decimal_places=10)
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    created_at = models.DateTimeField(auto_now_add=True)
    # Per channel: its outcome and how many times it was tried.
    email_status = _status_field()
    email_attempts = models.PositiveSmallIntegerField(default=0)
    webhook_status = _status_field()
    webhook_attempts = models.PositiveSmallIntegerField(default=0)
    in_app_status = _status_field()
    # Delivery bookkeeping: a worker claims the event until claimed_until; a
    # failed attempt is due again at next_attempt_at (the sweep's backoff).
    claimed_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
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

    @property
    def spend(self) -> Decimal:
        """Former name of ``spent``, kept for pages written against it."""
        return self.spent

    @property
    def channel_statuses(self) -> list[str]:
        """Email, webhook and in-app outcomes, in that order (for tables)."""
        return [self.email_status, self.webhook_status, self.in_app_status]


class AlertLevel(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class InAppAlert(models.Model):
    """An alert shown in the dashboard until someone resolves it.

    ``dedupe_key`` (unique when set) makes "once per model per day" or "once
    per budget period" alerts race-free across workers.
    """

    level = models.CharField(max_length=8, choices=AlertLevel.choices, default=AlertLevel.WARNING)
    title = models.CharField(max_length=300)
    message = models.TextField(blank=True)
    budget = models.ForeignKey(
        Budget, null=True, blank=True, on_delete=models.CASCADE, related_name="in_app_alerts"
    )
    dedupe_key = models.CharField(max_length=300, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # Someone has seen it and is on it; it stays listed until resolved.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"[{self.level}] {self.title}"

    @property
    def state(self) -> str:
        if self.resolved_at is not None:
            return "resolved"
        return "acknowledged" if self.acknowledged_at is not None else "open"


class RepriceAudit(models.Model):
    """Who recomputed which past costs, and by how much the total moved."""

    since = models.DateTimeField()
    model = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    calls = models.PositiveIntegerField(default=0)
    old_total = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    new_total = models.DecimalField(max_digits=24, decimal_places=10, default=0)
    who = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return (
            f"reprice since {self.since:%Y-%m-%d} by {self.who}: {self.old_total}→{self.new_total}"
        )
