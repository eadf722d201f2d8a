"""Admin for the call log (read-only) and gateway keys."""

from __future__ import annotations

import os
import re

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from calls.models import ENV_VAR_NAME_RE, CacheMode, GatewayKey, LLMCall, Provider
from costs.retention import retention_plan, retention_summary
from dashkit.formatting import usd_exact
from llm_gateway.cache import cache_purge_sync
from llm_gateway.keys import gateway_key_create, key_cache

# The model's own name reads "Llm call"; its Meta stays untouched (a label is
# not worth a migration), so the admin names it here.
LLMCall._meta.verbose_name = "LLM call"
LLMCall._meta.verbose_name_plural = "LLM calls"


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    """The call log, read-only: a record is history, written once by the gateway."""

    list_display = (
        "created_at",
        "agent_name",
        "model",
        "provider",
        "status",
        "total_tokens",
        "cost_usd",
        "latency",
        "retries",
        "fallback",
    )
    list_filter = ("status", "provider", "stream", "cache_hit", "fallback", "created_at")
    search_fields = ("=id", "agent_name", "model", "error_type")
    date_hierarchy = "created_at"
    show_full_result_count = False  # COUNT(*) over the whole log is slow at scale

    actions = ("purge_cache_for_models", "purge_cache_for_agents")
    change_list_template = "admin/llm_gateway/llmcall/change_list.html"

    def has_add_permission(self, request) -> bool:
        return False

    def get_urls(self):
        retention = self.admin_site.admin_view(self.retention_view)
        return [
            path("retention/", retention, name="llm_gateway_llmcall_retention"),
            *super().get_urls(),
        ]

    def retention_view(self, request):
        """What the next retention run removes (a page of its own: counting it
        on every changelist load would cost the log a scan each time)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        plan = retention_plan()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Call log retention",
            "plan": plan,
            "lines": retention_summary(plan),
        }
        return TemplateResponse(request, "admin/llm_gateway/llmcall/retention.html", context)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Cost", ordering="cost")
    def cost_usd(self, call: LLMCall) -> str:
        return usd_exact(call.cost) if call.priced else "unpriced"

    @admin.display(description="Latency", ordering="latency_ms")
    def latency(self, call: LLMCall) -> str:
        return f"{call.latency_ms:,.0f} ms"

    @admin.action(description="Purge cached answers of the selected calls' models")
    def purge_cache_for_models(self, request, queryset) -> None:
        models = set(queryset.values_list("model", flat=True)) | set(
            queryset.values_list("requested_model", flat=True)
        )
        _purge(self, request, "model", models)

    @admin.action(description="Purge cached answers of the selected calls' agents")
    def purge_cache_for_agents(self, request, queryset) -> None:
        _purge(self, request, "agent", set(queryset.values_list("agent_name", flat=True)))


def _purge(model_admin: admin.ModelAdmin, request, kind: str, names: set[str]) -> None:
    """Purge through the per-agent/per-model index (no scan of the whole cache).
    With the local backend this reaches only this process's cache."""
    deleted = sum(cache_purge_sync(**{kind: name}) for name in sorted(names) if name)
    model_admin.message_user(request, f"Purged {deleted} cached answers ({kind}: {len(names)}).")


class GatewayKeyForm(forms.ModelForm):
    class Meta:
        model = GatewayKey
        fields = (
            "name",
            "agent_name",
            "rpm_limit",
            "tpm_limit",
            "allowed_models",
            "allowed_agent_names",
            "validate_responses",
            "cache_mode",
            "cache_ttl_seconds",
            "expires_at",
            "revoked_at",
        )
        # The model's help text promises inline validation; the key setting runs it in
        # the background (llm_gateway.validation_dispatch). Inline is per request.
        help_texts = {
            "validate_responses": "Validate every response in the background, right after "
            "it is sent (results on the quality page). For a verdict in the response itself "
            "(x-gateway-validation), send the header x-gateway-validate: inline.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Optional in the form (scripts posting the older field set keep working).
        self.fields["cache_mode"].required = False

    def clean_cache_mode(self) -> str:
        return self.cleaned_data.get("cache_mode") or CacheMode.AUTO

    def clean_allowed_agent_names(self) -> list[str]:
        names = self.cleaned_data.get("allowed_agent_names") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise forms.ValidationError('A JSON list of agent names, e.g. ["research-*"].')
        return [name.strip() for name in names if name.strip()]


@admin.register(GatewayKey)
class GatewayKeyAdmin(admin.ModelAdmin):
    """Keys are generated here; the raw key is shown once, right after creation."""

    form = GatewayKeyForm
    list_display = (
        "name",
        "agent_name",
        "prefix",
        "rpm_limit",
        "tpm_limit",
        "cache_mode",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("revoked_at", "cache_mode")
    search_fields = ("name", "agent_name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    actions = ("revoke", "purge_cache")

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            key_cache.invalidate(obj.prefix)
            return
        raw, created = gateway_key_create(
            name=obj.name,
            agent_name=obj.agent_name,
            rpm_limit=obj.rpm_limit,
            tpm_limit=obj.tpm_limit,
            allowed_models=obj.allowed_models,
            expires_at=obj.expires_at,
            validate_responses=obj.validate_responses,
            cache_mode=obj.cache_mode,
            cache_ttl_seconds=obj.cache_ttl_seconds,
            allowed_agent_names=obj.allowed_agent_names,
        )
        obj.pk, obj.prefix, obj.key_hash = created.pk, created.prefix, created.key_hash
        obj.created_at = created.created_at
        obj._raw_key = raw

    def response_add(self, request, obj, post_url_continue=None):
        """Show the new key once, in this response only: it is never stored anywhere
        (not in a message cookie or the session) and cannot be shown again."""
        raw = getattr(obj, "_raw_key", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "key": obj,
            "raw_key": raw,
            "opts": self.model._meta,
            "title": "Gateway key created",
        }
        response = TemplateResponse(request, "admin/llm_gateway/key_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset) -> None:
        prefixes = list(queryset.values_list("prefix", flat=True))
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        for prefix in prefixes:
            key_cache.invalidate(prefix)

    @admin.action(description="Purge cached answers of the selected keys' agents")
    def purge_cache(self, request, queryset) -> None:
        _purge(self, request, "agent", set(queryset.values_list("agent_name", flat=True)))


class EnvVarNameInput(forms.TextInput):
    """Shows the variable's name, but never echoes back a value that is not a
    valid name: if someone pastes the key itself, the form refuses it and the
    error page must not print it."""

    def format_value(self, value: object) -> str | None:
        text = super().format_value(value)
        return text if text is None or re.match(ENV_VAR_NAME_RE, text) else ""


class ProviderForm(forms.ModelForm):
    class Meta:
        model = Provider
        fields = (
            "name",
            "kind",
            "enabled",
            "priority",
            "models",
            "base_url",
            "api_version",
            "deployments",
            "api_key_env",
        )
        widgets = {"api_key_env": EnvVarNameInput(attrs={"autocomplete": "off"})}


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "priority", "enabled", "api_key_env", "key_status", "models")
    list_filter = ("kind", "enabled")
    list_editable = ("priority", "enabled")
    search_fields = ("name",)
    readonly_fields = ("key_status", "created_at", "updated_at")
    fields = (*ProviderForm.Meta.fields, "key_status", "created_at", "updated_at")

    @admin.display(description="key")
    def key_status(self, obj: Provider) -> str:
        """Whether the variable is set in this process; the value is never read out."""
        if not obj.api_key_env:
            return "no key needed"
        # Not even the name is echoed: on a refused form it may be a pasted key.
        return "set" if os.environ.get(obj.api_key_env) else "NOT SET"
