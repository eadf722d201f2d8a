"""Admin form for ValidationRule: reject a config the validator could not apply.

The validator tolerates broken rules (they become info checks), but an operator should
learn about a typo when saving, not from a dashboard days later.
"""

from __future__ import annotations

from typing import Any

from django import forms

from validation.models import ValidationPolicy, ValidationRule
from validation.severity import CATALOG, POLICY_SEVERITIES, clean_overrides
from validation.validators.base import FAMILIES
from validation.validators.business import RuleConfigError, parse_rule_config

CONFIG_HELP = (
    'required_terms: {"terms": ["refund"], "min_matches": 1} · forbidden_terms: {"terms": '
    '["competitor"]} · regex: {"pattern": "TICKET-\\\\d+", "must_match": true} · '
    'min_length / max_length: {"value": 500} · json_schema: {"schema": {"type": "object"}}'
)

SEVERITIES_HELP = (
    'A JSON object, e.g. {"no_profanity": "warning", "format": "error", "rule:disclaimer": '
    f'"off"}}. Severities: {", ".join(POLICY_SEVERITIES)}. Families: {", ".join(FAMILIES)}. '
    "Checks (default): "
    + ", ".join(f"{name} ({info.default})" for name, info in CATALOG.items())
    + ". See docs/validation.md."
)


class ValidationRuleForm(forms.ModelForm):
    class Meta:
        model = ValidationRule
        fields = ["name", "agent_name", "kind", "config", "severity", "enabled"]
        help_texts = {"config": CONFIG_HELP}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        kind, config = cleaned.get("kind"), cleaned.get("config")
        if kind and "config" not in self.errors:
            try:
                parse_rule_config(kind, config)
            except RuleConfigError as exc:
                message = str(exc)
                self.add_error("config", message[:1].upper() + message[1:])
        return cleaned


class ValidationPolicyForm(forms.ModelForm):
    class Meta:
        model = ValidationPolicy
        fields = ["agent_name", "severities", "allow_personal_data", "retry_model", "enabled"]
        help_texts = {"severities": SEVERITIES_HELP}

    def clean_severities(self) -> dict[str, str]:
        try:
            return clean_overrides(self.cleaned_data.get("severities"))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from exc
