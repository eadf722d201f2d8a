"""Forms of the cost pages: the dashboard filters and the budget editor."""

from __future__ import annotations

from datetime import timedelta

from django import forms

from costs.models import Budget

RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
GROUPS = (("model", "Model"), ("agent", "Agent"), ("provider", "Provider"))


class CostFilterForm(forms.Form):
    """Query-string filters, so a filtered view can be shared as a link."""

    range = forms.ChoiceField(choices=[(k, k) for k in RANGES], required=False)
    by = forms.ChoiceField(choices=GROUPS, required=False)
    agent = forms.CharField(required=False, max_length=200)
    model = forms.CharField(required=False, max_length=200)
    provider = forms.CharField(required=False, max_length=100)

    def cleaned(self) -> dict[str, str]:
        """The filters, with defaults for anything missing or invalid."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "range": data.get("range") or "7d",
            "by": data.get("by") or "model",
            "agent": data.get("agent") or "",
            "model": data.get("model") or "",
            "provider": data.get("provider") or "",
        }


class BudgetForm(forms.ModelForm):
    thresholds = forms.CharField(
        initial="0.5, 0.8, 1", help_text="Fractions of the amount, comma-separated."
    )
    alert_emails = forms.CharField(
        required=False, help_text="Comma-separated addresses. Webhooks: set them in the admin."
    )

    class Meta:
        model = Budget
        fields = ["name", "scope", "scope_value", "gateway_key", "period", "amount", "action"]

    def clean_thresholds(self) -> list[str]:
        return [part.strip() for part in self.cleaned_data["thresholds"].split(",") if part]

    def clean(self) -> dict:
        data = super().clean()
        emails = [a.strip() for a in (data.get("alert_emails") or "").split(",") if a.strip()]
        for address in emails:
            forms.EmailField().clean(address)
        self.instance.channels = [{"type": "email", "to": emails}] if emails else []
        self.instance.thresholds = data.get("thresholds") or []
        return data
