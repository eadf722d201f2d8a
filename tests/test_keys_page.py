"""The keys page: staff see keys and their use; gateway admins create (shown once) and revoke."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from calls.models import GatewayKey, LLMCall
from llm_gateway.keys import gateway_key_authenticate, gateway_key_create

pytestmark = pytest.mark.django_db

NEW_KEY = {
    "name": "support-prod",
    "agent_name": "Support Bot",
    "rpm_limit": "600",
    "tpm_limit": "",
    "allowed_models": "gpt-4o-mini, gpt-4.1-*",
    "expires_in_days": "30",
}


@pytest.fixture
def gateway_admin(client, django_user_model):
    user = django_user_model.objects.create_user(
        username="lead", password="lead-pass-123", is_staff=True
    )
    user.groups.add(Group.objects.create(name="gateway admin"))
    client.force_login(user)
    return client


def test_staff_see_each_key_its_limits_use_and_last_use_but_never_its_hash(staff_client):
    raw, key = gateway_key_create(
        name="cto", agent_name="CTO Agent", rpm_limit=60, allowed_models=["gpt-4o"]
    )
    LLMCall.objects.create(agent_name="CTO Agent", gateway_key=key, cost=Decimal("0.25"))
    LLMCall.objects.create(agent_name="CTO Agent", gateway_key=key, cost=Decimal("0.5"))
    body = staff_client.get("/keys/").content.decode()
    assert key.prefix in body and "60 req/min" in body and "gpt-4o" in body
    assert "$0.75" in body and ">2</a>" in body
    assert raw not in body and key.key_hash not in body
    assert "Create key" not in body  # plain staff only read


def test_plain_staff_cannot_create_or_revoke(staff_client):
    _, key = gateway_key_create(name="k", agent_name="A")
    assert staff_client.post("/keys/", NEW_KEY).status_code == 403
    assert staff_client.post(f"/keys/{key.pk}/revoke/").status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None and GatewayKey.objects.count() == 1


# Transactional: the key check reads the database from another thread.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["admin_client", "gateway_admin"])
def test_a_gateway_admin_creates_a_key_shown_once_then_only_its_prefix(request, who):
    client = request.getfixturevalue(who)
    response = client.post("/keys/", NEW_KEY)
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    raw = re.search(r'id="raw-key">([^<]+)<', response.content.decode()).group(1)
    key = GatewayKey.objects.get()
    assert raw.startswith(key.prefix + "_") and raw not in key.key_hash
    assert (key.rpm_limit, key.tpm_limit) == (600, None)
    assert key.allowed_models == ["gpt-4o-mini", "gpt-4.1-*"] and key.expires_at is not None
    assert asyncio.run(gateway_key_authenticate(raw)) is not None
    listing = client.get("/keys/").content.decode()
    assert key.prefix in listing and raw not in listing


def test_a_bad_new_key_gets_form_errors(admin_client):
    response = admin_client.post("/keys/", {**NEW_KEY, "agent_name": "", "rpm_limit": "-1"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"agent_name", "rpm_limit"}
    assert GatewayKey.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_revoked_key_is_refused_at_once(admin_client):
    raw, key = gateway_key_create(name="k", agent_name="A")
    assert asyncio.run(gateway_key_authenticate(raw)) is not None  # now cached
    confirm = admin_client.get(f"/keys/{key.pk}/revoke/")
    assert b"Revoke key" in confirm.content
    assert admin_client.post(f"/keys/{key.pk}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert asyncio.run(gateway_key_authenticate(raw)) is None
    assert b"revoked" in admin_client.get("/keys/").content
