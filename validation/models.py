"""Validation rules and per-call results."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from calls.models import LLMCall


class RuleKind(models.TextChoices):
    REQUIRED_TERMS = "required_terms", "Required terms"
    FORBIDDEN_TERMS = "forbidden_terms", "Forbidden terms"
    REGEX = "regex", "Regular expression"
    MIN_LENGTH = "min_length", "Minimum length"
    MAX_LENGTH = "max_length", "Maximum length"
    JSON_SCHEMA = "json_schema", "JSON Schema"


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    ERROR = "error", "Error"


class ValidationRule(models.Model):
    """A business check an operator attaches to one agent, or to every agent.

    ``config`` is free-form JSON whose shape depends on ``kind``; ValidationRuleForm checks
    it, but rows written another way may still be wrong, which the validator tolerates.
    """

    name = models.CharField(max_length=200)
    agent_name = models.CharField(
        max_length=200, blank=True, db_index=True, help_text="Blank applies to every agent."
    )
    kind = models.CharField(max_length=32, choices=RuleKind.choices)
    config = models.JSONField(default=dict, blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.WARNING)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["agent_name", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.agent_name or 'all agents'})"


class ValidationResult(models.Model):
    """The validation report of one call, stored once (re-validation overwrites it)."""

    # No constraint in the database: on PostgreSQL the call log is partitioned by
    # month (calls.partitions) and its id alone is no longer a unique key that a
    # foreign key could point at. Integrity is kept by the app: a result is only
    # written for a call that exists (validation.services), deleting a call
    # through Django cascades here, and retention drops a month's results with
    # the month's calls (costs.retention).
    call = models.OneToOneField(
        LLMCall,
        on_delete=models.CASCADE,
        related_name="validation",
        db_constraint=False,
    )
    # The call's created_at, copied: the month partition key on PostgreSQL, so a
    # result lives in its call's month and is dropped with it.
    call_created_at = models.DateTimeField(editable=False)
    is_valid = models.BooleanField(db_index=True)
    quality_score = models.FloatField()
    checks = models.JSONField(default=list)
    # Denormalised so the dashboard can filter by family and agent without joining or
    # scanning the checks JSON.
    failed_families = models.JSONField(default=list, blank=True)
    agent_name = models.CharField(max_length=200, blank=True, db_index=True)
    # The severity policy the verdict was reached under: the same answer can be valid for
    # an agent allowed to return personal data and invalid for another.
    policy = models.CharField(max_length=220, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["agent_name", "created_at"], name="valresult_agent_time"),
            # The request explorer's "invalid" filter walks calls newest first and
            # probes each one's result: this small partial index answers the
            # probe without the heap (EXPLAIN ANALYZE at 1 M calls: 8.4 -> 2.7 ms).
            models.Index(
                fields=["call"], condition=models.Q(is_valid=False), name="valresult_invalid_call"
            ),
        ]

    def __str__(self) -> str:
        verdict = "valid" if self.is_valid else "invalid"
        return f"{self.call_id}: {verdict} ({self.quality_score:.2f})"

    def save(self, *args, **kwargs) -> None:
        call_created_at_fill(self)
        super().save(*args, **kwargs)


class ValidationPolicy(models.Model):
    """How an agent's answers are judged, and what to do when one fails.

    ``severities`` raises or lowers checks: ``{"no_profanity": "warning", "format": "error",
    "rule:disclaimer": "off"}`` (a check name, a family or a business rule; error, warning,
    info or off). Personal data is an error unless ``allow_personal_data`` is set. The row
    with a blank agent is the default for agents without a policy of their own.

    With ``retry_model`` set, a call validated inline that comes back invalid is
    asked once more on that (usually stronger) model; both calls are recorded,
    the second with ``metadata["validation_retry_of"]`` naming the first.
    """

    agent_name = models.CharField(
        max_length=200,
        unique=True,
        blank=True,
        help_text="The agent this policy applies to; blank for every agent without its own.",
    )
    severities = models.JSONField(
        default=dict,
        blank=True,
        help_text="Severity per check or family, e.g. "
        '{"no_profanity": "warning", "format": "error"}: error, warning, info or off.',
    )
    allow_personal_data = models.BooleanField(
        default=False,
        help_text="Answers may contain e-mail addresses, phone and card numbers "
        "(otherwise they are invalid).",
    )
    retry_model = models.CharField(
        max_length=200,
        blank=True,
        help_text="Model to ask once more when an answer fails validation (inline only).",
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "validation policies"

    def __str__(self) -> str:
        retry = f", retry on {self.retry_model}" if self.retry_model else ""
        return f"{self.agent_name or 'all agents'}{retry}"

    @property
    def label(self) -> str:
        """How reports name the policy."""
        return f"policy: {self.agent_name}" if self.agent_name else "policy: all agents"


class Feedback(models.Model):
    """A score someone gave one call: the end user's thumbs, a reviewer's grade, an
    eval's verdict. Several per call (by ``name``); written by validation.feedback."""

    # No database constraint, for the reason ValidationResult.call gives.
    call = models.ForeignKey(
        LLMCall,
        on_delete=models.CASCADE,
        related_name="feedback",
        db_constraint=False,
    )
    # The call's month (partition key), as on ValidationResult.
    call_created_at = models.DateTimeField(editable=False)
    name = models.CharField(max_length=64, default="user")
    score = models.FloatField(help_text="From -1 (bad) to 1 (good); thumbs are 0/1.")
    comment = models.TextField(blank=True)
    # Copied from the call so the quality page groups without joining the call log.
    agent_name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], name="feedback_time"),
            models.Index(fields=["agent_name", "created_at"], name="feedback_agent_time"),
        ]

    def __str__(self) -> str:
        return f"{self.call_id}: {self.name} {self.score:+.2f}"

    def save(self, *args, **kwargs) -> None:
        call_created_at_fill(self)
        super().save(*args, **kwargs)


def call_created_at_fill(row: ValidationResult | Feedback) -> None:
    """Copy the call's month key onto a row saved without it (the services pass it;
    this covers a row made another way, e.g. in the shell)."""
    if row.call_created_at is None:
        row.call_created_at = (
            LLMCall.objects.filter(pk=row.call_id).values_list("created_at", flat=True).get()
        )
