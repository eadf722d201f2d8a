"""Security headers, staff-only pages with CSRF, and `check --deploy` in production."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from costs.budget_rules import webhook_url_problem
from infra_dashboard.security import CSP_DIRECTIVES

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "templates"

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "gateway.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "DATABASE_URL": "sqlite:///unused.sqlite3",
    "CELERY_BROKER_URL": "",
    "PATH": "/usr/bin:/bin",
}


def run_check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = run_check_deploy(PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_refuses_the_development_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = run_check_deploy(env)
    assert result.returncode != 0
    assert "infra_dashboard.E001" in result.stderr


def test_pages_send_csp_and_the_other_security_headers(staff_client):
    response = staff_client.get("/costs/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src "))
    assert script_src.startswith("script-src 'self' 'nonce-")
    assert "'unsafe-eval'" not in csp and "'unsafe-inline'" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_api_sends_the_security_headers_too(client, db):
    response = client.get("/v1/models")
    assert response.status_code == 401
    assert response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_no_template_has_an_inline_script_the_csp_would_block():
    """CSP allows only same-origin script files: an executable inline block would break."""
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{path.relative_to(REPO)}: {tag}")
        if re.search(r"\son[a-z]+\s*=", text):  # onclick=… is inline script as well
            offenders.append(f"{path.relative_to(REPO)}: inline event handler")
    assert offenders == []


def test_every_script_source_the_pages_load_is_same_origin(staff_client):
    html = staff_client.get("/costs/").content.decode()
    sources = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    assert sources, "the dashboard loads htmx and plotly.js"
    assert all(src.startswith("/static/") for src in sources), sources
    assert CSP_DIRECTIVES["script-src"] == "'self' 'nonce-{nonce}'"


def test_inline_scripts_carry_this_responses_nonce_and_htmx_gets_it_too(staff_client, prices):
    from calls.models import LLMCall

    LLMCall.objects.create(agent_name="a", model="gpt-4o-mini", cost="0.01")
    response = staff_client.get("/costs/")
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    html = response.content.decode()
    inline = [t for t in re.findall(r"<script\b[^>]*>", html) if "src=" not in t]
    assert all(f'nonce="{nonce}"' in tag for tag in inline if "application/json" not in tag)
    assert f'"inlineScriptNonce": "{nonce}"' in html
    assert (
        staff_client.get("/costs/")["Content-Security-Policy"]
        != response["Content-Security-Policy"]
    )


@pytest.mark.parametrize("path", ["/", "/costs/", "/costs/budgets/", "/admin/"])
def test_pages_need_a_staff_login(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_a_signed_in_non_staff_user_is_refused(client, django_user_model):
    user = django_user_model.objects.create_user(username="agent", password="pw-123456789")
    client.force_login(user)
    assert client.get("/costs/").status_code == 403


def test_posting_a_budget_without_a_csrf_token_is_refused(db, staff_user):
    from django.test import Client

    from costs.models import Budget

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_user)
    response = strict.post(
        "/costs/budgets/", {"name": "x", "amount": "10", "period": "monthly", "scope": "global"}
    )
    assert response.status_code == 403
    assert Budget.objects.count() == 0


def test_login_form_without_a_csrf_token_is_refused(db, staff_user):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/accounts/login/", {"username": "staff", "password": "staff-pass-123"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", True),
        ("http://127.0.0.2:9999/hook", True),  # a local relay the gateway does not serve
        ("ftp://example.com/hook", False),
        ("file:///etc/passwd", False),
        ("javascript:alert(1)", False),
        ("http://127.0.0.1:8000/v1/chat/completions", False),  # the gateway itself
        ("http://localhost:8000/admin/", False),
        ("https://gateway.example.com/hook", False),
        ("https://GATEWAY.example.com/hook", False),
    ],
)
def test_webhook_urls_are_http_and_never_the_gateway_itself(settings, url, allowed):
    settings.ALLOWED_HOSTS = ["gateway.example.com", "127.0.0.1", "localhost"]
    assert (webhook_url_problem(url) == "") is allowed


def test_a_budget_with_a_webhook_to_the_gateway_is_refused(db, settings):
    from django.core.exceptions import ValidationError

    from costs.budgets import budget_create

    settings.ALLOWED_HOSTS = ["gateway.example.com"]
    with pytest.raises(ValidationError):
        budget_create(name="loop", amount="5", webhook_url="https://gateway.example.com/v1/x")


def test_a_stored_webhook_to_the_gateway_is_never_called(db, settings):
    from costs.models import Budget, BudgetAlertEvent
    from costs.notifications import alert_event_deliver

    settings.ALLOWED_HOSTS = ["gateway.example.com"]
    budget = Budget.objects.create(
        name="legacy",
        amount="5",
        thresholds=["0.5"],
        in_app=False,
        webhook_url="https://gateway.example.com/hook",
    )
    event = BudgetAlertEvent.objects.create(
        budget=budget,
        period_start="2025-01-01T00:00:00Z",
        threshold="0.5",
        spent="3",
        amount="5",
        webhook_status="pending",
    )
    alert_event_deliver(event_id=event.id)
    event.refresh_from_db()
    assert event.webhook_status == "failed" and event.webhook_attempts == 1
