"""The gateway keys page: staff see every key, its limits and use; gateway
admins (superusers or the "gateway admin" group) create and revoke keys here
without the Django admin.

A new key is shown once, in the response to the form that created it, with
``Cache-Control: no-store``; it is never put in a message, the session or a
log. Afterwards only its public prefix is shown, never its hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.core.cache import cache
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from calls.models import GatewayKey, LLMCall
from llm_gateway.keys import gateway_key_create, key_cache

GATEWAY_ADMIN_GROUP = "gateway admin"
# Rollups carry no key, so use per key is read from the call log: the last
# 24 h only (a range on the created_at index), one grouped query, cached.
USE_WINDOW = timedelta(hours=24)
USE_CACHE_SECONDS = 60


def can_manage_keys(user: object) -> bool:
    return bool(
        getattr(user, "is_superuser", False)
        or user.groups.filter(name=GATEWAY_ADMIN_GROUP).exists()  # type: ignore[attr-defined]
    )


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="What the key is for, e.g. support-prod.")
    agent_name = forms.CharField(
        label="Agent", max_length=200, help_text="Calls with this key are attributed to it."
    )
    rpm_limit = forms.IntegerField(
        label="Requests per minute", required=False, min_value=1, help_text="Empty: no limit."
    )
    tpm_limit = forms.IntegerField(
        label="Tokens per minute", required=False, min_value=1, help_text="Empty: no limit."
    )
    allowed_models = forms.CharField(
        required=False,
        help_text="Comma-separated names or patterns (gpt-4o*); empty: any model.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires after (days)", required=False, min_value=1, max_value=3650
    )
    validate_responses = forms.BooleanField(required=False)

    def clean_allowed_models(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_models") or ""
        return [m.strip() for m in raw.split(",") if m.strip()]


@dataclass(frozen=True)
class KeyRow:
    key: GatewayKey
    calls: int
    cost: Decimal

    @property
    def state(self) -> str:
        if self.key.revoked_at is not None:
            return "revoked"
        if self.key.expires_at is not None and self.key.expires_at <= timezone.now():
            return "expired"
        return "active"


def _use_by_key() -> dict[int, tuple[int, Decimal]]:
    since = timezone.now() - USE_WINDOW
    rows = (
        LLMCall.objects.filter(created_at__gte=since, gateway_key__isnull=False)
        .values("gateway_key")
        .annotate(n=Count("id"), c=Sum("cost"))
        .order_by()
    )
    return {r["gateway_key"]: (r["n"], r["c"] or Decimal(0)) for r in rows}


def key_rows() -> list[KeyRow]:
    use = cache.get_or_set("dash:keys-use", _use_by_key, USE_CACHE_SECONDS)
    keys = GatewayKey.objects.defer("key_hash").order_by("revoked_at", "-created_at")
    return [KeyRow(key, *use.get(key.id, (0, Decimal(0)))) for key in keys]


def keys_page(request: HttpRequest) -> HttpResponse:
    manage = can_manage_keys(request.user)
    form = KeyCreateForm(request.POST or None)
    if request.method == "POST":
        if not manage:
            return HttpResponseForbidden("Only gateway admins create keys.")
        if form.is_valid():
            return _created(request, form)
    context = {"rows": key_rows(), "form": form, "manage": manage, "window": USE_WINDOW}
    return render(request, "llm_gateway/keys.html", context, status=400 if form.errors else 200)


def _created(request: HttpRequest, form: KeyCreateForm) -> HttpResponse:
    data = form.cleaned_data
    days = data.get("expires_in_days")
    raw, key = gateway_key_create(
        name=data["name"],
        agent_name=data["agent_name"],
        rpm_limit=data.get("rpm_limit"),
        tpm_limit=data.get("tpm_limit"),
        allowed_models=data["allowed_models"],
        expires_at=timezone.now() + timedelta(days=days) if days else None,
        validate_responses=data.get("validate_responses", False),
    )
    base_url = request.build_absolute_uri("/v1")
    response = render(
        request, "llm_gateway/key_created.html", {"key": key, "raw_key": raw, "base_url": base_url}
    )
    response["Cache-Control"] = "no-store"
    return response


def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    if not can_manage_keys(request.user):
        return HttpResponseForbidden("Only gateway admins revoke keys.")
    key = get_object_or_404(GatewayKey.objects.defer("key_hash"), pk=pk)
    if request.method == "POST":
        GatewayKey.objects.filter(pk=pk, revoked_at=None).update(revoked_at=timezone.now())
        key_cache.invalidate(key.prefix)  # refused from the next request on, not in 5 s
        messages.success(request, f"Key {key.prefix}… ({key.name}) revoked.")
        return redirect("keys")
    return render(request, "llm_gateway/key_revoke.html", {"key": key})
