"""Admin for the call log (read-only) and gateway keys."""

from __future__ import annotations

from django.contrib import admin

from llm_gateway.models import GatewayKey, LLMCall


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
