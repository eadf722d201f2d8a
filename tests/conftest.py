"""Shared fixtures and the rules that decide which tests run where.

The same suite runs twice in CI: on the embedded defaults (SQLite, eager
Celery) and on the real services. Markers say what a test needs; tests whose
needs are not met here are skipped with the reason, never silently passed.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.conf import settings

from tests import fake_anthropic as _fake_anthropic_module
from tests import fake_openai as _fake_openai_module

# The real local fake upstreams, as fixtures for every test module.
fake_openai = _fake_openai_module.fake_openai
fake_anthropic = _fake_anthropic_module.fake_anthropic


def _services_configured() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql") and bool(
        settings.CELERY_BROKER_URL and settings.REDIS_URL
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    reasons = {
        "postgres": (not on_postgres, "needs DATABASE_URL=postgres://…"),
        "services": (not _services_configured(), "needs Postgres, CELERY_BROKER_URL and REDIS_URL"),
        "celery_worker": (
            os.environ.get("CELERY_WORKER_RUNNING") != "1",
            "needs a running Celery worker (CELERY_WORKER_RUNNING=1, see .ci/run)",
        ),
        "browser": (
            shutil.which("chromium") is None,
            "needs Debian's chromium (make browser-test)",
        ),
    }
    for item in items:
        for marker, (skip, reason) in reasons.items():
            if skip and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _celery_mode(request: pytest.FixtureRequest):
    """Run tasks in-process unless the test asks for the real worker.

    With a broker configured, a task published from inside a test transaction
    would reach a worker that cannot see the uncommitted rows; only tests marked
    ``celery_worker`` (which commit their data) publish for real.
    """
    from infra_dashboard.celery import app

    eager = request.node.get_closest_marker("celery_worker") is None
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager or not settings.CELERY_BROKER_URL
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _record_mode(request: pytest.FixtureRequest, settings, tmp_path_factory):
    """Tests read the call log right after a response: write records before it,
    unless the test is about the background writer itself (then with a spool of
    its own, never one another test's records could be replayed from)."""
    from calls.spool import spool_reset

    background = bool(request.node.get_closest_marker("background_records"))
    settings.GATEWAY_BACKGROUND_RECORDS = background
    settings.GATEWAY_SPOOL_DIR = str(tmp_path_factory.mktemp("spool")) if background else ""
    spool_reset()
    yield
    spool_reset()


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    from costs.signals import usage_refresh_quiet_reset

    cache.clear()
    usage_refresh_quiet_reset()  # its "refresh already queued" lives in that cache
    yield


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="staff", password="staff-pass-123", is_staff=True
    )


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture(autouse=True)
def _closed_circuits():
    """Each test starts with every provider's circuit closed."""
    from llm_gateway.circuit import breaker

    breaker.reset()
    yield
    breaker.reset()


@pytest.fixture
def prices(db):
    """The shipped price table, loaded into the test database."""
    from django.core.management import call_command

    call_command("load_prices", verbosity=0)


class LiveGateway:
    """The real ASGI app served by uvicorn on a free loopback port."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.base_url = url + "/v1"


@pytest.fixture
def live_gateway(transactional_db, settings):
    """A running gateway (uvicorn + the project's ASGI app) for real HTTP clients."""
    import socket
    import threading
    import time

    import uvicorn

    from infra_dashboard.asgi import application
    from llm_gateway.serving import server_options

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(application, **server_options(lifespan="off", log_level="warning"))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the gateway did not start"
    yield LiveGateway(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def make_key(db):
    """Create a gateway key and return the raw key (what an agent would hold)."""
    from llm_gateway.keys import gateway_key_create

    def make(agent: str = "test-agent", **fields) -> str:
        raw, _ = gateway_key_create(name=fields.pop("name", agent), agent_name=agent, **fields)
        return raw

    return make


@pytest.fixture
def upstream(fake_openai, settings):
    """Point the gateway's default provider at the fake OpenAI server."""
    settings.OPENAI_API_KEY = "sk-upstream-secret-0123456789abcdef"
    settings.OPENAI_BASE_URL = fake_openai.base_url
    settings.LLM_MOCK_FALLBACK = False
    settings.LLM_FALLBACK_MODELS = []
    return fake_openai


@pytest.fixture(autouse=True)
def _fresh_gateway_state():
    """Key cache, rate-limit and refusal counters are per process: start each test clean."""
    from llm_gateway.cache import reset_response_cache
    from llm_gateway.keys import key_cache
    from llm_gateway.ratelimit import reset_backend
    from llm_gateway.refusals import refusals_reset

    key_cache.clear()
    reset_backend()
    reset_response_cache()
    refusals_reset()
    _forget_redis_cache_entries()
    yield
    key_cache.clear()
    reset_backend()
    reset_response_cache()
    refusals_reset()


def _forget_redis_cache_entries() -> None:
    """With REDIS_URL the response cache outlives a test; start each one empty."""
    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match="gwc:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
