"""What escapes an API view still reaches the agent as an OpenAI-shaped JSON error."""

from __future__ import annotations

import json

import pytest
from django.db import InterfaceError, OperationalError
from django.test import RequestFactory

from llm_gateway.api.resilience import APIExceptionMiddleware


def _middleware() -> APIExceptionMiddleware:
    return APIExceptionMiddleware(lambda request: None)


@pytest.mark.parametrize("error", [OperationalError("server closed"), InterfaceError("gone")])
def test_a_lost_database_becomes_a_retryable_503_database_unavailable(error):
    request = RequestFactory().post("/v1/chat/completions")
    response = _middleware().process_exception(request, error)
    assert response.status_code == 503
    assert response["retry-after"]
    body = json.loads(response.content)
    assert body["error"]["type"] == "api_error"
    assert body["error"]["code"] == "database_unavailable"
    assert set(body["error"]) == {"message", "type", "param", "code"}


def test_an_unexpected_error_is_a_json_500_without_its_message(caplog):
    request = RequestFactory().get("/api/v1/usage")
    secret = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
    response = _middleware().process_exception(request, RuntimeError(f"boom {secret}"))
    assert response.status_code == 500
    assert json.loads(response.content)["error"]["code"] == "internal_error"
    assert secret not in response.content.decode()
    assert secret not in caplog.text


def test_pages_keep_django_error_handling():
    request = RequestFactory().get("/costs/")
    assert _middleware().process_exception(request, OperationalError("x")) is None


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/v1/models", "GET, HEAD"),
        ("DELETE", "/v1/chat/completions", "POST"),
        ("PUT", "/api/v1/usage", "GET, HEAD"),
        ("PATCH", "/api/v1/budgets", "GET, HEAD"),
    ],
)
def test_a_wrong_method_is_an_openai_shaped_405_with_allow(client, db, method, path, allow):
    response = client.generic(method, path)
    assert response.status_code == 405
    assert response["Allow"] == allow
    assert json.loads(response.content)["error"]["code"] == "method_not_allowed"


def test_a_role_that_is_an_object_is_a_400_not_a_crash(client, make_key):
    body = {"model": "gpt-4o-mini", "messages": [{"role": {}, "content": "hi"}]}
    response = client.post(
        "/v1/chat/completions",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {make_key()}"},
    )
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["param"] == "messages[0].role"


def test_stop_items_that_are_not_strings_are_refused(client, make_key):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": [{}]}
    response = client.post(
        "/v1/chat/completions",
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {make_key()}"},
    )
    assert response.status_code == 400
    assert json.loads(response.content)["error"]["param"] == "stop"
