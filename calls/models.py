"""The call log and the keys agents use to reach the gateway."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone


class CacheMode(models.TextChoices):
    """When the response cache may answer for a key (see llm_gateway/cache.py)."""

    AUTO = "auto", "Auto: deterministic requests only (temperature 0 or a seed)"
    ALWAYS = "always", "Always: every cacheable request"
    NEVER = "never", "Never"


class GatewayKey(models.Model):
    """A key an agent (or team) presents as ``Authorization: Bearer``.

    Only a keyed hash is stored; ``prefix`` is the public, non-secret part used
    to find the row and to show the key in pages without revealing it.
    """

    name = models.CharField(max_length=200)
    agent_name = models.CharField(max_length=200, db_index=True)
    prefix = models.CharField(max_length=32, unique=True)
    key_hash = models.CharField(max_length=128)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Requests per minute.")
    tpm_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens per minute.")
    allowed_models = models.JSONField(
        default=list, blank=True, help_text="Model names or fnmatch patterns; empty means any."
    )
    # X-Agent-Name labels a call for dashboards and agent budgets, so a key may
    # only claim the names listed here (its own agent is always allowed).
    allowed_agent_names = models.JSONField(
        default=list,
        blank=True,
        help_text="Agent names (or fnmatch patterns) this key may set in X-Agent-Name, "
        "besides its own agent; empty means its own agent only.",
    )
    validate_responses = models.BooleanField(
        default=False, help_text="Validate every response inline and return x-gateway-validation."
    )
    cache_mode = models.CharField(
        max_length=8,
        choices=CacheMode.choices,
        default=CacheMode.AUTO,
        help_text="Response cache: identical requests are answered without calling the "
        "provider. 'Always' also caches sampled (temperature > 0) answers.",
    )
    cache_ttl_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="How long this key's cached answers live; empty: GATEWAY_CACHE_TTL.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class CallStatus(models.TextChoices):
    SUCCESS = "success"
    ERROR = "error"
    CLIENT_DISCONNECTED = "client_disconnected"
    BLOCKED = "blocked"
    # Refusals decided before any provider was asked: recorded at $0 (sampled under a flood).
    RATE_LIMITED = "rate_limited"
    UNAUTHORIZED = "unauthorized"


# The LLMCall columns that keep the price a call was charged at, so a later
# price change never rewrites what the row says it cost.
PRICE_LEDGER_FIELDS = ("input_price_per_m", "output_price_per_m", "cached_price_per_m")


class LLMCall(models.Model):
    """One row per call that reached the gateway, written exactly once.

    The prices the call was charged at are copied onto the row (a ledger), so
    a later price change never rewrites history unless someone reprices on
    purpose.
    """

    # On PostgreSQL the table is partitioned by month of created_at (calls.partitions)
    # and its primary key in the database is (id, created_at): a partitioned table
    # allows no unique index without the partition key. Django still finds rows by
    # id (a uuid4, unique in practice; the index leads with it). So no foreign key
    # into this table can be a database constraint: declare one db_constraint=False.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # When the row was written; rollups use it to pick up late rows.
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)
    agent_name = models.CharField(max_length=200, blank=True, db_index=True)
    gateway_key = models.ForeignKey(
        GatewayKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    key_prefix = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=16, default="python")  # "api" or "python"
    # chat, embeddings, responses, completions, moderations or messages.
    operation = models.CharField(max_length=16, default="chat", db_index=True)
    provider = models.CharField(max_length=100, blank=True)
    provider_kind = models.CharField(max_length=32, blank=True)
    requested_model = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True)
    stream = models.BooleanField(default=False)
    status = models.CharField(max_length=32, choices=CallStatus.choices, default=CallStatus.SUCCESS)
    error_type = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    priced = models.BooleanField(default=True)
    input_price_per_m = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    output_price_per_m = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    cached_price_per_m = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    saved_cost = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    latency_ms = models.FloatField(default=0)
    ttft_ms = models.FloatField(null=True, blank=True)
    retries = models.PositiveSmallIntegerField(default=0)
    fallback = models.CharField(max_length=16, blank=True)  # "", "model", "provider", "mock"
    cache_hit = models.BooleanField(default=False)
    downgraded = models.BooleanField(default=False)
    finish_reason = models.CharField(max_length=32, blank=True)
    request_body = models.JSONField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # How many calls this row stands for: more than 1 only for the aggregated row
    # of refusals that a flood made the gateway stop recording one by one.
    # A plain integer: a CHECK (>= 0) would make adding the column scan the whole log.
    occurrences = models.IntegerField(default=1)
    # Attribution (llm_gateway.attribution): the session or agent run, the W3C
    # trace ids (this call's own span and its parent), the step, the end user, tags.
    session_id = models.CharField(max_length=200, blank=True)
    trace_id = models.CharField(max_length=32, blank=True)
    span_id = models.CharField(max_length=16, blank=True)
    parent_id = models.CharField(max_length=16, blank=True)
    step = models.CharField(max_length=200, blank=True)
    end_user = models.CharField(max_length=256, blank=True)
    tags = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Keyset pagination of the request explorer walks (created_at, id).
            models.Index(fields=["-created_at", "-id"], name="llmcall_keyset"),
            # A session's or a user's calls, newest first; a trace's steps. (Tags:
            # a GIN index on PostgreSQL, migration 0007.)
            # Partial: most calls carry none, and the log is written thousands of
            # times a second.
            models.Index(
                fields=["session_id", "created_at"],
                name="llmcall_session_time",
                condition=~models.Q(session_id=""),
            ),
            models.Index(
                fields=["end_user", "created_at"],
                name="llmcall_user_time",
                condition=~models.Q(end_user=""),
            ),
            models.Index(
                fields=["trace_id", "created_at"],
                name="llmcall_trace_time",
                condition=~models.Q(trace_id=""),
            ),
            models.Index(fields=["agent_name", "created_at"], name="llmcall_agent_time"),
            models.Index(fields=["model", "created_at"], name="llmcall_model_time"),
            models.Index(fields=["status", "created_at"], name="llmcall_status_time"),
            # The explorer's "most expensive" and "slowest" orders walk these by
            # keyset (llm_gateway.call_order); without them each page sorts the window.
            models.Index(fields=["-cost", "-id"], name="llmcall_cost_keyset"),
            models.Index(fields=["-latency_ms", "-id"], name="llmcall_latency_keyset"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.agent_name or '-'} {self.model}"


# Names an environment variable could have; a pasted key ("sk-…", "sk-ant-…")
# never matches because of its dashes, so the form refuses it before saving.
ENV_VAR_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    AZURE_OPENAI = "azure_openai", "Azure OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible (vLLM, Ollama, Together, …)"


class Provider(models.Model):
    """An upstream the gateway may route to, configured in the admin.

    The key itself is never stored: ``api_key_env`` names the environment
    variable that holds it, read at use time, so a database dump, the admin
    pages and the call log cannot leak it. Without any enabled row the
    environment's OpenAI settings form the default provider (DESIGN.md).
    """

    name = models.CharField(
        max_length=100, unique=True, help_text="Recorded on every call it answers."
    )
    kind = models.CharField(max_length=32, choices=ProviderKind.choices)
    base_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="API base URL; for Azure the resource endpoint (https://NAME.openai.azure.com). "
        "Empty: the vendor's default.",
    )
    api_version = models.CharField(
        max_length=40, blank=True, help_text="Azure only, e.g. 2024-10-21."
    )
    deployments = models.JSONField(
        default=dict, blank=True, help_text='Azure only: {"model name": "deployment name"}.'
    )
    api_key_env = models.CharField(
        "API key environment variable",
        max_length=100,
        blank=True,
        validators=[
            RegexValidator(
                ENV_VAR_NAME_RE,
                "Enter the NAME of an environment variable (letters, digits, _), never a key.",
            )
        ],
        help_text="The name of the environment variable holding the key, e.g. ANTHROPIC_API_KEY. "
        "Optional for OpenAI-compatible servers that need no key.",
    )
    priority = models.PositiveIntegerField(default=100, help_text="Lower is tried first.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # Last: the name shadows the ``models`` module for the rest of the class body.
    models = models.JSONField(
        default=list,
        blank=True,
        help_text='Model names or fnmatch patterns it serves, e.g. ["claude-*"]; empty: any.',
    )

    class Meta:
        ordering = ["priority", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if not isinstance(self.models, list) or not all(isinstance(m, str) for m in self.models):
            errors["models"] = "A JSON list of model names or patterns."
        deployments = self.deployments
        if not isinstance(deployments, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in deployments.items()
        ):
            errors["deployments"] = 'A JSON object {"model": "deployment"}.'
        if self.kind == ProviderKind.AZURE_OPENAI:
            if not self.base_url:
                errors["base_url"] = "Azure needs the resource endpoint."
            if not self.api_version:
                errors["api_version"] = "Azure needs an API version."
        if self.kind == ProviderKind.OPENAI_COMPATIBLE and not self.base_url:
            errors["base_url"] = "An OpenAI-compatible server needs its base URL."
        if self.kind != ProviderKind.OPENAI_COMPATIBLE and not self.api_key_env:
            errors["api_key_env"] = "This kind needs the name of the variable holding its key."
        if errors:
            raise ValidationError(errors)
