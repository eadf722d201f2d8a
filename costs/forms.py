"""Forms of the cost pages: the budget editor."""

from __future__ import annotations

from django import forms

from calls.models import GatewayKey
from costs.models import Budget


class BudgetForm(forms.ModelForm):
    """The budgets page's editor. ``thresholds`` is typed as "0.5, 0.8, 1";
    the cross-field rules are the model's (``budget_validate``), so the page,
    the admin and ``budget_create`` refuse the same things.

    ``gateway_key`` is a convenience kept from the first version: a chosen key
    fills a key budget's ``scope_value`` with the key's (public) prefix.
    """

    thresholds = forms.CharField(
        initial="0.5, 0.8, 1", help_text="Fractions of the amount, comma-separated (up to 10)."
    )
    gateway_key = forms.ModelChoiceField(
        queryset=GatewayKey.objects.filter(revoked_at=None),
        required=False,
        help_text="Key scope: pick the key, or type its prefix as the scope value.",
    )

    class Meta:
        model = Budget
        fields = [
            "name",
            "scope",
            "scope_value",
            "period",
            "amount",
            "action",
            "downgrade_model",
            "emails",
            "webhook_url",
            "in_app",
        ]

    def clean_thresholds(self) -> list[float]:
        parts = [p.strip() for p in self.cleaned_data["thresholds"].split(",") if p.strip()]
        try:
            return [float(part) for part in parts]
        except ValueError as exc:
            raise forms.ValidationError("Thresholds are numbers like 0.8.") from exc

    def clean(self) -> dict:
        data = super().clean()
        key = data.get("gateway_key")
        if key is not None and data.get("scope") == "key" and not data.get("scope_value"):
            data["scope_value"] = self.instance.scope_value = key.prefix
        self.instance.thresholds = data.get("thresholds") or []
        return data
