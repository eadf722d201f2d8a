"""Alert delivery: to a real local webhook receiver and Django's test mailbox."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from costs.budgets import budget_create, budgets_evaluate
from costs.models import BudgetAlertEvent
from costs.notifications import MAX_ATTEMPTS, alert_event_deliver
from llm_gateway.models import LLMCall

pytestmark = pytest.mark.django_db

SECRET_PATH = "/hooks/T000/B000/s3cr3t-token"


class Receiver:
    """A real HTTP server that records what it is sent and answers ``status``."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{SECRET_PATH}"


@pytest.fixture
def receiver():
    server = Receiver()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def crossed_event(channels: list[dict], action: str = "alert") -> BudgetAlertEvent:
    budget_create(
        name="Team",
        amount="10",
        period="daily",
        thresholds=[0.8],
        channels=channels,
        action=action,
    )
    LLMCall.objects.create(agent_name="A", cost=Decimal("9"))
    (event,) = budgets_evaluate()
    return event


def test_a_webhook_receives_the_alert_with_money_as_strings(receiver):
    event = crossed_event([{"type": "webhook", "url": receiver.url}])
    assert alert_event_deliver(event_id=event.id) == "delivered"
    (body,) = receiver.bodies
    assert body["spend_usd"] == "9.0000000000"
    assert body["threshold"] == "0.8000"
    assert "Team" in body["text"] and "80%" in body["text"]
    event.refresh_from_db()
    assert event.delivered_at is not None


def test_an_email_channel_sends_one_mail(mailoutbox):
    event = crossed_event([{"type": "email", "to": ["ops@example.com"]}], action="block")
    assert alert_event_deliver(event_id=event.id) == "delivered"
    (mail,) = mailoutbox
    assert mail.to == ["ops@example.com"]
    assert "Team" in mail.subject


def test_a_delivered_or_claimed_event_is_not_sent_twice(receiver):
    event = crossed_event([{"type": "webhook", "url": receiver.url}])
    assert alert_event_deliver(event_id=event.id) == "delivered"
    assert alert_event_deliver(event_id=event.id) == "skipped"
    assert len(receiver.bodies) == 1


def test_a_failing_webhook_is_retried_after_a_backoff_without_resending_email(receiver, mailoutbox):
    receiver.status = 503
    event = crossed_event(
        [{"type": "email", "to": ["ops@example.com"]}, {"type": "webhook", "url": receiver.url}]
    )
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
    event = crossed_event([{"type": "webhook", "url": receiver.url}])
    moment = timezone.now()
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        outcomes.append(alert_event_deliver(event_id=event.id, now=moment))
        moment += timedelta(hours=2)
    assert outcomes[-1] == "failed"
    assert outcomes[:-1] == ["retry"] * (MAX_ATTEMPTS - 1)


def test_a_gone_webhook_fails_at_once_and_its_url_is_never_logged(receiver, caplog):
    receiver.status = 404
    event = crossed_event([{"type": "webhook", "url": receiver.url}])
    with caplog.at_level(logging.DEBUG):
        assert alert_event_deliver(event_id=event.id) == "failed"
    event.refresh_from_db()
    assert "404" in event.last_error
    assert "s3cr3t" not in event.last_error
    assert "s3cr3t" not in caplog.text


def test_an_unreachable_webhook_does_not_leak_its_url(caplog):
    event = crossed_event([{"type": "webhook", "url": "http://127.0.0.1:9" + SECRET_PATH}])
    with caplog.at_level(logging.DEBUG):
        assert alert_event_deliver(event_id=event.id) == "retry"
    event.refresh_from_db()
    assert "unreachable" in event.last_error
    assert "s3cr3t" not in event.last_error + caplog.text
