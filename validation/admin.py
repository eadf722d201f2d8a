"""Admin for validation rules and results."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from validation.forms import ValidationPolicyForm, ValidationRuleForm
from validation.models import Feedback, ValidationPolicy, ValidationResult, ValidationRule


@admin.register(ValidationRule)
class ValidationRuleAdmin(admin.ModelAdmin):
    form = ValidationRuleForm
    list_display = ["name", "agent_name", "kind", "severity", "enabled", "updated_at"]
    list_filter = ["enabled", "kind", "severity", "agent_name"]
    list_editable = ["enabled"]
    search_fields = ["name", "agent_name"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(ValidationResult)
class ValidationResultAdmin(admin.ModelAdmin):
    """Read-only: results are written by the validator; editing one would falsify history."""

    list_display = ["call_id", "agent_name", "is_valid", "quality_score", "failed_families",
                    "policy", "created_at"]  # fmt: skip
    list_filter = ["is_valid", "agent_name", "policy", "created_at"]
    search_fields = ["call__id", "agent_name"]
    date_hierarchy = "created_at"
    list_select_related = False
    readonly_fields = ["call", "agent_name", "is_valid", "quality_score", "failed_families",
                       "policy", "checks", "created_at"]  # fmt: skip
    show_full_result_count = False  # COUNT(*) on a large log is slow and rarely needed

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ValidationPolicy)
class ValidationPolicyAdmin(admin.ModelAdmin):
    form = ValidationPolicyForm
    list_display = ("__str__", "severities", "allow_personal_data", "retry_model", "enabled",
                    "updated_at")  # fmt: skip
    list_filter = ("enabled", "allow_personal_data")
    search_fields = ("agent_name", "retry_model")


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    """Read-only like results: feedback is what someone said about a call."""

    list_display = ["call_id", "name", "score", "agent_name", "model", "created_at"]
    list_filter = ["name", "agent_name", "created_at"]
    search_fields = ["call__id", "comment"]
    readonly_fields = [f.name for f in Feedback._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
