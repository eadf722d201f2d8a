"""Feedback on calls (HTTP and Python API), and where attribution and feedback
show: the request explorer's filters, the request detail, the quality page."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from calls.models import GatewayKey, LLMCall
from llm_gateway.manager import LLMManager
from validation.feedback import FeedbackError
from validation.models import Feedback

pytestmark = pytest.mark.django_db


def _call(key: GatewayKey | None = None, **fields) -> LLMCall:
    values = {
        "agent_name": key.agent_name if key else "python-agent",
        "gateway_key": key,
        "model": "gpt-4o-mini",
        "created_at": timezone.now() - timedelta(minutes=1),
        **fields,
    }
    return LLMCall.objects.create(**values)


def _key(make_key, agent: str) -> tuple[str, GatewayKey]:
    raw = make_key(agent)
    return raw, GatewayKey.objects.get(agent_name=agent)


def post_feedback(client, raw_key: str, **body):
    return client.post(
        "/api/v1/feedback",
        data=json.dumps(body),
        content_type="application/json",
        headers={"authorization": f"Bearer {raw_key}"},
    )


def test_feedback_on_an_own_call_is_stored_several_times(client, make_key):
    raw, key = _key(make_key, "support-bot")
    call = _call(key)
    first = post_feedback(client, raw, request_id=str(call.id), score=1)
    second = post_feedback(
        client, raw, request_id=str(call.id), score=-0.5, comment="too long", name="reviewer"
    )
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["request_id"] == str(call.id)
    rows = list(Feedback.objects.order_by("id").values_list("name", "score", "comment"))
    assert rows == [("user", 1.0, ""), ("reviewer", -0.5, "too long")]
    assert Feedback.objects.filter(agent_name="support-bot", model="gpt-4o-mini").count() == 2


def test_another_keys_call_is_not_found(client, make_key):
    raw, _ = _key(make_key, "agent-a")
    _, other = _key(make_key, "agent-b")
    call = _call(other)
    response = post_feedback(client, raw, request_id=str(call.id), score=1)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert not Feedback.objects.exists()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"score": 2}, "score"),
        ({"score": "good"}, "score"),
        ({"score": 1, "name": "n" * 65}, "name"),
        ({"request_id": "not-a-uuid", "score": 1}, "request_id"),
        ({"request_id": None, "score": 1}, "request_id"),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(client, make_key, body, param):
    raw, key = _key(make_key, "agent")
    body = {"request_id": str(_call(key).id), **body}
    response = post_feedback(client, raw, **body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_feedback_needs_a_key(client):
    response = client.post(
        "/api/v1/feedback",
        data=json.dumps({"request_id": str(uuid.uuid4()), "score": 1}),
        content_type="application/json",
    )
    assert response.status_code == 401


def test_the_python_api_records_feedback_and_refuses_unknown_calls():
    call = _call()
    manager = LLMManager(providers=[])
    stored = async_to_sync(manager.record_feedback)(call.id, True, comment="thanks")
    assert (stored.call_id, stored.score, stored.name) == (call.id, 1.0, "user")
    with pytest.raises(FeedbackError):
        async_to_sync(manager.record_feedback)(uuid.uuid4(), 1)


def test_the_request_detail_shows_attribution_feedback_and_the_trace_link(staff_client, settings):
    settings.OTEL_TRACE_URL_TEMPLATE = "https://tempo.example/trace/{trace_id}"
    call = _call(
        session_id="conv-77",
        end_user="cust-9",
        step="summarise",
        tags={"team": "search"},
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
    )
    Feedback.objects.create(call=call, score=-1, comment="wrong answer", name="user")
    page = staff_client.get(f"/requests/{call.id}/").content.decode()
    assert "conv-77" in page and "cust-9" in page and "summarise" in page
    assert "team=search" in page
    assert "https://tempo.example/trace/4bf92f3577b34da6a3ce929d0e0e4736" in page
    assert "wrong answer" in page


def test_the_explorer_filters_by_session_user_and_tag(staff_client):
    wanted = _call(session_id="s-1", end_user="u-1", tags={"team": "search", "env": "prod"})
    _call(session_id="s-2", end_user="u-2", tags={"team": "ads"})
    _call()
    for query in ("session=s-1", "user=u-1", "tag=team%3Dsearch", "tag=env"):
        page = staff_client.get(f"/requests/?range=24h&{query}").content.decode()
        assert page.count("/requests/") >= 1
        shown = {str(c.id) for c in LLMCall.objects.all() if f"/requests/{c.id}/" in page}
        assert shown == {str(wanted.id)}, query


def test_the_quality_page_shows_feedback_by_agent_and_the_latest_negative(staff_client):
    good, bad = _call(agent_name="writer"), _call(agent_name="writer", model="gpt-4o")
    Feedback.objects.create(call=good, score=1, agent_name="writer", model="gpt-4o-mini")
    Feedback.objects.create(
        call=bad, score=0, agent_name="writer", model="gpt-4o", comment="off topic"
    )
    page = staff_client.get("/quality/").content.decode()
    assert "Feedback" in page and "off topic" in page
    assert f"/requests/{bad.id}/" in page
    assert "50.0% positive" in page
