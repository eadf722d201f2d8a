"""Admin for the call log (read-only), gateway keys and providers."""

from __future__ import annotations

import os
import re

from django import forms
from django.contrib import admin

from llm_gateway.models import ENV_VAR_NAME_RE, GatewayKey, LLMCall, Provider


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "agent_name",
        "model",
        "provider",
        "status",
        "total_tokens",
        "cost",
        "latency_ms",
        "retries",
        "fallback",
    )
    list_filter = ("status", "provider", "stream", "cache_hit", "fallback", "created_at")
    search_fields = ("=id", "agent_name", "model", "error_type")
    date_hierarchy = "created_at"
    show_full_result_count = False  # COUNT(*) over the whole log is slow at scale

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GatewayKey)
class GatewayKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "agent_name",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("revoked_at",)
    search_fields = ("name", "agent_name", "prefix")
    readonly_fields = ("prefix", "key_hash", "created_at", "last_used_at")


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
