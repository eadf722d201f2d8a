"""Forms of the cost pages: the budget editor."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django import forms

from calls.models import GatewayKey
from costs.budget_rules import MAX_THRESHOLD
from costs.models import Budget

THRESHOLDS_HELP = (
    "When to alert, as fractions of the amount or percentages: "
    "“0.5, 0.8, 1” or “50%, 80%, 100%”. Above 100% write a percentage (“150%”); up to 1000%."
)
_SEPARATORS = re.compile(r"[,;\s]+")
_SPACED_PERCENT = re.compile(r"\s+%")


def thresholds_text(values: list[float] | None) -> str:
    """The human spelling of stored fractions: "0.5, 0.8, 1", and "150%" above 1."""
    parts = []
    for value in values or []:
        fraction = Decimal(str(value))
        parts.append(f"{fraction:g}" if fraction <= 1 else f"{(fraction * 100).normalize():f}%")
    return ", ".join(parts)


def _threshold(part: str) -> Decimal:
    """One threshold as a fraction. A bare number above 1 is refused: "5" is as
    likely a mistyped 5 % as a deliberate 500 %, and accepting it silently
    meant an alert that never fires."""
    is_percent = part.endswith("%")
    try:
        value = Decimal(part.removesuffix("%").strip())
    except InvalidOperation as exc:
        raise forms.ValidationError(f"“{part}” is not a number like 0.8 or 80%.") from exc
    fraction = value / 100 if is_percent else value
    if not fraction.is_finite() or not Decimal(0) < fraction <= MAX_THRESHOLD:
        raise forms.ValidationError(
            f"“{part}”: each threshold is a fraction above 0 and at most 10 (1000 %)."
        )
    if fraction > 1 and not is_percent:
        raise forms.ValidationError(
            f"“{part}” would mean {(value * 100).normalize():f}% of the amount. Write "
            f"{(value * 100).normalize():f}% if that is meant, or a fraction such as 0.8."
        )
    return fraction


class ThresholdsField(forms.CharField):
    """Budget thresholds as people type them, the same on the page and in the
    admin: fractions, percentages, or the JSON list the field stores."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("help_text", THRESHOLDS_HELP)
        super().__init__(**kwargs)

    def prepare_value(self, value: object) -> object:
        if isinstance(value, str) and value.lstrip().startswith("["):
            return value  # a submitted JSON list comes back as typed
        return thresholds_text(value) if isinstance(value, list) else value

    def to_python(self, value: object) -> list[float]:
        text = str(super().to_python(value) or "").strip().removeprefix("[").removesuffix("]")
        parts = [p for p in _SEPARATORS.split(_SPACED_PERCENT.sub("%", text)) if p]
        if not parts:
            raise forms.ValidationError("Give at least one threshold, e.g. 0.8.")
        if len(parts) > 10:
            raise forms.ValidationError("At most 10 thresholds.")
        return sorted({float(_threshold(part)) for part in parts})


class BudgetForm(forms.ModelForm):
    """The budgets page's editor. ``thresholds`` is typed as "0.5, 0.8, 1" or
    "50%, 80%, 100%" (ThresholdsField, shared with the admin); the cross-field
    rules are the model's (``budget_validate``), so the page, the admin and
    ``budget_create`` refuse the same things.

    ``gateway_key`` is a convenience kept from the first version: a chosen key
    fills a key budget's ``scope_value`` with the key's (public) prefix.
    """

    thresholds = ThresholdsField(initial="0.5, 0.8, 1")
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
            "thresholds",
            "action",
            "downgrade_model",
            "emails",
            "webhook_url",
            "in_app",
        ]
        labels = {
            "webhook_url": "Webhook URL",
            "in_app": "Show alerts on the Alerts page",
            "emails": "Email alerts to",
        }

    def clean(self) -> dict:
        data = super().clean()
        key = data.get("gateway_key")
        if key is not None and data.get("scope") == "key" and not data.get("scope_value"):
            data["scope_value"] = self.instance.scope_value = key.prefix
        if "thresholds" in data:  # else its own error says why; no second one from the model
            self.instance.thresholds = data["thresholds"]
        return data


class BudgetEditForm(BudgetForm):
    """Editing adds the switch that pauses a budget without deleting it."""

    class Meta(BudgetForm.Meta):
        fields = ["name", "enabled", *BudgetForm.Meta.fields[1:]]
        labels = BudgetForm.Meta.labels
        help_texts = {"enabled": "Untick to pause: no alerts, no blocking, history kept."}


class BudgetAdminForm(forms.ModelForm):
    thresholds = ThresholdsField()

    class Meta:
        model = Budget
        fields = ["name", "enabled", *BudgetForm.Meta.fields[1:]]
