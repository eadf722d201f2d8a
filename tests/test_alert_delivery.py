"""Alert delivery: to a real local webhook receiver, Django's test mailbox and
the in-app list, through the service and through the Celery task."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from calls.models import LLMCall
from costs.alerts import in_app_alert_resolve
from costs.budgets import budget_create, budgets_evaluate
from costs.models import BudgetAlertEvent, InAppAlert
from costs.notifications import MAX_ATTEMPTS, alert_event_deliver
from costs.selectors import in_app_alerts_active
from costs.tasks import alert_event_deliver_task, budgets_evaluate_task

pytestmark = pytest.mark.django_db

SECRET_PATH = "/hooks/T000/B000/s3cr3t-token"


class Receiver:
    """A real HTTP server that records what it is sent and answers the queued
    statuses in order (then ``status``)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        self.queued: deque[int] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = receiver.queued.popleft() if receiver.queued else receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"


@pytest.fixture(autouse=True)
def _gateway_host(settings):
    # The gateway refuses webhooks at hosts it serves itself; here it serves only
    # "testserver", so the receiver on 127.0.0.1 is somebody else.
    settings.ALLOWED_HOSTS = ["testserver"]


@pytest.fixture
def receiver():
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def crossed_event(
    *, emails: str = "", webhook_url: str = "", in_app: bool = False, action: str = "alert"
) -> BudgetAlertEvent:
    budget_create(
        name="Team",
        amount="10",
        period="daily",
        thresholds=[0.8],
        emails=emails,
        webhook_url=webhook_url,
        in_app=in_app,
        action=action,
    )
    LLMCall.objects.create(agent_name="A", cost=Decimal("9"))
    (event,) = budgets_evaluate()
    return event


def test_a_webhook_receives_a_slack_compatible_body_with_money_as_strings(receiver):
    event = crossed_event(webhook_url=receiver.url)
    assert alert_event_deliver(event_id=event.id) == "delivered"
    (body,) = receiver.bodies
    assert "Team" in body["text"] and "80%" in body["text"]
    assert body["blocks"][0]["type"] == "section"
    assert "Team" in body["blocks"][0]["text"]["text"]
    assert body["spend_usd"] == "9.0000000000"
    assert body["threshold"] == "0.8000"
    event.refresh_from_db()
    assert (event.webhook_status, event.webhook_attempts) == ("sent", 1)
    assert event.delivered_at is not None


def test_an_email_channel_sends_one_mail(mailoutbox):
    event = crossed_event(emails="ops@example.com, cfo@example.com", action="block")
    assert alert_event_deliver(event_id=event.id) == "delivered"
    (mail,) = mailoutbox
    assert mail.to == ["ops@example.com", "cfo@example.com"]
    assert "Team" in mail.subject
    event.refresh_from_db()
    assert event.email_status == "sent"


def test_the_in_app_channel_lists_one_alert_until_it_is_resolved():
    event = crossed_event(in_app=True)
    assert alert_event_deliver(event_id=event.id) == "delivered"
    # (A forecast alert may join it, depending on the time of day: not this test's concern.)
    (alert,) = [a for a in in_app_alerts_active() if "crossed" in a.title]
    assert alert.budget.name == "Team" and "80%" in alert.title
    assert in_app_alert_resolve(alert_id=alert.id)
    assert alert.id not in [a.id for a in in_app_alerts_active()]


def test_a_delivered_or_claimed_event_is_not_sent_twice(receiver):
    event = crossed_event(webhook_url=receiver.url, in_app=True)
    assert alert_event_deliver(event_id=event.id) == "delivered"
    assert alert_event_deliver(event_id=event.id) == "skipped"
    assert len(receiver.bodies) == 1
    assert InAppAlert.objects.filter(title__contains="crossed").count() == 1


def test_the_celery_task_retries_a_failing_webhook_until_it_is_delivered(receiver, mailoutbox):
    receiver.queued.extend([500])  # 500 first, then 200
    event = crossed_event(emails="ops@example.com", webhook_url=receiver.url)
    assert alert_event_deliver_task.delay(event.id).get() == "delivered"
    event.refresh_from_db()
    assert (event.webhook_status, event.webhook_attempts) == ("sent", 2)
    assert (event.email_status, event.email_attempts) == ("sent", 1)
    assert event.attempts == 2
    assert len(receiver.bodies) == 2
    assert len(mailoutbox) == 1  # the retry re-sent only the channel that failed


def test_a_failed_attempt_waits_for_its_backoff_before_the_sweep_retries(receiver, mailoutbox):
    receiver.status = 503
    event = crossed_event(emails="ops@example.com", webhook_url=receiver.url)
    now = timezone.now()
    assert alert_event_deliver(event_id=event.id, now=now) == "retry"
    assert alert_event_deliver(event_id=event.id, now=now + timedelta(seconds=1)) == "skipped"
    receiver.status = 200
    later = now + timedelta(hours=2)
    assert alert_event_deliver(event_id=event.id, now=later) == "delivered"
    assert len(mailoutbox) == 1
    assert len(receiver.bodies) == 2


def test_a_webhook_that_keeps_failing_gives_up(receiver):
    receiver.status = 500
    event = crossed_event(webhook_url=receiver.url)
    moment = timezone.now()
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        outcomes.append(alert_event_deliver(event_id=event.id, now=moment))
        moment += timedelta(hours=2)
    assert outcomes[-1] == "failed"
    assert outcomes[:-1] == ["retry"] * (MAX_ATTEMPTS - 1)
    event.refresh_from_db()
    assert (event.webhook_status, event.webhook_attempts) == ("failed", MAX_ATTEMPTS)


def test_a_gone_webhook_fails_at_once_and_its_url_is_never_logged(receiver, caplog):
    receiver.status = 404
    event = crossed_event(webhook_url=receiver.url)
    with caplog.at_level(logging.DEBUG):
        assert alert_event_deliver(event_id=event.id) == "failed"
    event.refresh_from_db()
    assert "404" in event.last_error
    assert "s3cr3t" not in event.last_error
    assert "s3cr3t" not in caplog.text


def test_an_unreachable_webhook_does_not_leak_its_url(caplog):
    event = crossed_event(webhook_url="http://127.0.0.1:9" + SECRET_PATH)
    with caplog.at_level(logging.DEBUG):
        assert alert_event_deliver(event_id=event.id) == "retry"
    event.refresh_from_db()
    assert "unreachable" in event.last_error
    assert "s3cr3t" not in event.last_error + caplog.text


def test_delivery_is_published_only_after_commit(receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = crossed_event(webhook_url=receiver.url)
    assert receiver.bodies == []
    for callback in callbacks:
        callback()
    assert len(receiver.bodies) == 1
    event.refresh_from_db()
    assert event.delivered_at is not None


def test_with_the_broker_down_the_event_stays_pending_and_the_sweep_publishes_it(
    receiver, django_capture_on_commit_callbacks, settings
):
    from infra_dashboard.celery import app

    if settings.CELERY_BROKER_URL:
        pytest.skip("needs the embedded (eager) setup to point Celery at a dead broker")
    eager, broker = app.conf.task_always_eager, app.conf.broker_url
    app.conf.task_always_eager, app.conf.broker_url = False, "redis://127.0.0.1:1/0"
    try:
        with django_capture_on_commit_callbacks(execute=True):
            event = crossed_event(webhook_url=receiver.url)
    finally:
        app.conf.task_always_eager, app.conf.broker_url = eager, broker
    event.refresh_from_db()
    assert (event.webhook_status, event.delivered_at, receiver.bodies) == ("pending", None, [])
    with django_capture_on_commit_callbacks(execute=True):
        budgets_evaluate_task()
    event.refresh_from_db()
    assert event.webhook_status == "sent"
    assert len(receiver.bodies) == 1
