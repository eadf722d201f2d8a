"""No key used in a run shows up in any table, log line or rendered page of that run.

One test drives the gateway the way a busy day would (good calls, streams,
refusals, a provider error, keys pasted into prompts, a budget with a webhook
whose URL holds a token), renders every page and every admin list and change
page, then scans all of it for the raw secrets.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.core import serializers
from django.urls import reverse

from calls.models import LLMCall

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"  # the `upstream` fixture's key
PASTED_KEY = "sk-proj-" + "PastedIntoAPrompt" * 3
WEBHOOK_TOKEN = "T0KEN1n7heWebhookPath9f8e7d6c5b4a"
PAGES = ["/", "/costs/", "/costs/budgets/", "/requests/", "/performance/", "/quality/", "/admin/"]
EXPORTS = ["/costs/export.csv?range=30d", "/costs/export.json?range=30d"]


def _drive(base_url: str, keys: list[str], upstream) -> None:
    def chat(key: str, content: str, **extra) -> httpx.Response:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
        return httpx.post(
            base_url + "/v1/chat/completions",
            json={**body, **extra},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )

    good, other = keys
    assert chat(good, "hello").status_code == 200
    assert chat(good, f"my key is {good} and {PASTED_KEY}").status_code == 200
    assert chat(other, f"stream with {other}", stream=True).status_code == 200
    assert chat(good[:-3] + "xyz", "forged").status_code == 401
    assert chat(good, "bad", temperature=9).status_code == 400
    upstream.fail_next(1, 401)  # the provider refuses the gateway's own credentials
    assert chat(good, "provider auth error").status_code >= 400
    for path in ("/v1/models", "/api/v1/usage", "/api/v1/budgets"):
        assert httpx.get(base_url + path, headers={"Authorization": f"Bearer {good}"}).is_success


def _body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


def _pages(client) -> list[str]:
    """Every dashboard page and export, every call's detail page, every admin
    list and each list's first change page."""
    rendered = [_body(client.get(path)) for path in PAGES + EXPORTS]
    for call_id in LLMCall.objects.values_list("id", flat=True):
        rendered.append(client.get(f"/requests/{call_id}/").content.decode())
    for model, _ in admin.site._registry.items():
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        rendered.append(client.get(changelist).content.decode())
        first = model.objects.first()
        if first is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk])
            rendered.append(client.get(change).content.decode())
    return rendered


def _tables() -> str:
    return "\n".join(
        serializers.serialize("json", model.objects.all())
        for model in apps.get_models()
        if model._meta.managed
    )


PROVIDER_KEY = "sk-ant-" + "ProviderKeyFromTheEnvironment" * 2


def _spooled() -> str:
    """What the server's write-ahead spool put on disk (calls.spool)."""
    files = Path(settings.GATEWAY_SPOOL_DIR).glob("calls-*.wal")
    return "\n".join(path.read_bytes().decode() for path in files)


@pytest.mark.background_records  # the server's own path: spooled, then written in batches
def test_no_secret_appears_in_any_table_log_page_or_spool(
    live_gateway, upstream, prices, make_key, staff_client, caplog, monkeypatch
):
    from calls.models import Provider
    from calls.spool import Spool
    from costs.budgets import budget_create

    caplog.set_level(logging.DEBUG)
    # Keep every spool entry on disk (it is spent once written), so all of them are searched.
    monkeypatch.setattr(Spool, "committed", lambda self, call_ids: None)
    # A provider configured in the admin names the variable; the key lives in the environment.
    monkeypatch.setenv("SCAN_PROVIDER_KEY", PROVIDER_KEY)
    Provider.objects.create(
        name="scan-anthropic", kind="anthropic", api_key_env="SCAN_PROVIDER_KEY", enabled=False
    )
    keys = [make_key("scan-agent"), make_key("scan-other")]
    budget_create(
        name="scan budget",
        amount="0.0001",
        webhook_url=f"https://hooks.example.com/services/{WEBHOOK_TOKEN}",
    )
    _drive(live_gateway.url, keys, upstream)
    deadline = time.monotonic() + 10  # records are written just after each response
    # Four calls, and the forged key's refusal (its prefix is real: an "unauthorized" row).
    while LLMCall.objects.count() < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    pages = _pages(staff_client)
    logs = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {json.dumps(r.args, default=str)}"
        for r in caplog.records
    )
    spooled = _spooled()
    haystacks = {"tables": _tables(), "logs": logs, "pages": "\n".join(pages), "spool": spooled}
    secrets = {"gateway key": keys[0], "other gateway key": keys[1], "upstream": UPSTREAM_KEY}
    secrets |= {"pasted": PASTED_KEY, "provider key": PROVIDER_KEY}
    found = [
        f"{name} in {where}"
        for name, secret in secrets.items()
        for where, text in haystacks.items()
        if secret in text
    ]
    # The webhook URL is shown to staff on the budget pages by design; never logged.
    if WEBHOOK_TOKEN in logs:
        found.append("webhook token in logs")
    assert found == []
    assert "SCAN_PROVIDER_KEY" in haystacks["pages"]  # the admin shows the variable's name
    # Four calls, and the forged key's refusal (a real key's prefix: recorded at $0).
    assert LLMCall.objects.exclude(status="unauthorized").count() == 4
    assert LLMCall.objects.filter(status="unauthorized").count() == 1
    assert len(pages) > len(PAGES) + len(EXPORTS) + 5
    assert all(str(call_id) in spooled for call_id in LLMCall.objects.values_list("id", flat=True))
    assert "[REDACTED]" in spooled  # the pasted key was there, and was redacted first
