"""Service faults with real processes: Postgres lost, the Redis broker lost, a worker killed.

The shared Postgres and Redis servers keep running (other suites use them):
the gateway or worker under test reaches them through a ``TCPProxy`` that the
test cuts and restores. Every process started here is killed in a finally.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.conf import settings

from tests.faults import TCPProxy, database_url, start_gateway, start_worker, wait_until
from tests.ledger import books, report, send_calls, upstream_markers

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

PRIVATE_BROKER_DB = 7  # tests use Redis databases 5-7 only


@pytest.fixture
def publish_for_real():
    """These tests publish to their own private queue, with committed rows: not eager."""
    from infra_dashboard.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = previous


def _redis_host_port() -> tuple[str, int]:
    from urllib.parse import urlsplit

    url = urlsplit(settings.REDIS_URL or settings.CELERY_BROKER_URL)
    return url.hostname or "127.0.0.1", url.port or 6379


def _gateway_env(upstream, **env: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": "sk-upstream-secret-0123456789abcdef",
        "OPENAI_BASE_URL": upstream.base_url,
        "LLM_MOCK_FALLBACK": "false",
        "LLM_MAX_RETRIES": "1",
        "SECRET_KEY": settings.SECRET_KEY,  # key hashes must match the test's
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": "",
        "DB_POOL_TIMEOUT": "1",
        "LOG_LEVEL": "WARNING",
        **env,
    }


class Receiver:
    """A local webhook endpoint that counts deliveries and can be slow."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay, self.started, self.completed = delay, 0, 0
        self.alert_ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.started += 1
                receiver.alert_ids.append(self.headers.get("Idempotency-Key", ""))
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(receiver.delay)
                self.send_response(200)
                self.end_headers()
                receiver.completed += 1

            def log_message(self, *args: object) -> None:
                pass

        # 127.0.0.2: loopback, but not a host the gateway serves (ALLOWED_HOSTS), which
        # webhooks may never point at.
        self.server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.2:{self.server.server_port}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Long enough for the probes: the fast API path runs every database call in one thread
# (thread-sensitive sync_to_async), so during an outage they queue behind each other.
OUTAGE_S = 20.0


async def _outage_traffic(url: str, key: str):
    """Calls during the outage, then (key cache expired) more calls and the probes."""

    async def late_calls_and_probes():
        await asyncio.sleep(5.5)
        late = await send_calls(url, key, count=5, concurrency=5, tag="pg-d", timeout=60)
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            readyz = await client.get("/readyz")
            chat = await client.post(  # the key cache has expired: the lookup needs the DB
                "/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
                headers={"Authorization": f"Bearer {key}"},
            )
        return late, readyz.status_code, chat

    # Calls already admitted (key cached) reach the provider and wait to be recorded.
    early, (late, readyz, chat) = await asyncio.gather(
        send_calls(url, key, count=6, concurrency=3, tag="pg-b", timeout=60),
        late_calls_and_probes(),
    )
    early.sent += late.sent
    early.statuses.update(late.statuses)
    early.non_openai_errors += late.non_openai_errors
    return early, (readyz, chat)


def test_postgres_lost_during_traffic_gives_503s_then_recovers_by_itself(
    upstream, prices, make_key, tmp_path
):
    from calls.models import LLMCall
    from costs.budgets import budget_create

    # A block budget: every call reserves on the database, through the outage and after.
    budget = budget_create(name="pg watch", amount="1000", action="block")
    key = make_key("pg-agent")
    proxy = TCPProxy("127.0.0.1", int(settings.DATABASES["default"].get("PORT") or 5432)).start()
    gateway = None
    try:
        gateway, url = start_gateway(
            tmp_path, **_gateway_env(upstream, DATABASE_URL=database_url(port=proxy.port))
        )
        before = asyncio.run(send_calls(url, key, count=20, concurrency=5, tag="pg-a"))
        proxy.cut()
        # The database stays away longer than the key cache (5 s), so later calls must
        # reach it and fail; calls already past the provider wait to be recorded.
        restore = threading.Timer(OUTAGE_S, proxy.restore)
        restore.start()
        outage, (readyz_down, chat_down) = asyncio.run(_outage_traffic(url, key))
        restore.join()
        ready = wait_until(
            lambda: httpx.get(url + "/readyz", timeout=10).status_code == 200, timeout=30
        )
        after = asyncio.run(send_calls(url, key, count=20, concurrency=5, tag="pg-c"))
    finally:
        if gateway is not None:
            gateway.stop()
        proxy.stop()
    ledger = books(tag="pg-", budget=budget)
    refused = outage.statuses[503]
    sent = before.sent + outage.sent + after.sent + 1  # + the probe
    report(
        "postgres_lost",
        before,
        ledger,
        sent_total=sent,
        outage_statuses={str(k): v for k, v in outage.statuses.items()},
        refused_503=refused,
        upstream_requests=len(upstream.chat_calls),
    )
    assert chat_down.status_code == 503 and readyz_down == 503
    assert chat_down.json()["error"]["code"] == "database_unavailable"
    assert chat_down.json()["error"]["type"] == "api_error"
    assert outage.non_openai_errors == [] and refused >= 1, outage.statuses
    assert set(outage.statuses) <= {200, 503}
    assert ready and after.statuses == {200: 20} and before.statuses == {200: 20}
    # Every call that reached the provider is recorded, and none twice. (A call refused
    # by the database before the provider may be recorded too: as an error, cost 0.)
    assert upstream_markers(upstream) <= ledger.markers
    assert ledger.duplicates == 0 and ledger.balanced
    successes = before.statuses[200] + outage.statuses[200] + after.statuses[200]
    assert LLMCall.objects.filter(status="success").count() == successes
    assert ledger.recorded <= sent


def test_broker_lost_calls_are_still_recorded_and_alerts_arrive_once_it_is_back(
    upstream, prices, make_key, tmp_path
):
    from costs.budgets import budget_create
    from costs.models import BudgetAlertEvent

    receiver = Receiver()
    host, port = _redis_host_port()
    proxy = TCPProxy(host, port).start()
    broker = f"redis://127.0.0.1:{proxy.port}/{PRIVATE_BROKER_DB}"
    _flush_private_broker(host, port)
    budget = budget_create(
        name="broker watch",
        amount="0.0001",
        thresholds=["0.5", "1.0"],
        webhook_url=receiver.url,
        in_app=False,
    )
    key = make_key("broker-agent")
    env = _gateway_env(
        upstream,
        DATABASE_URL=database_url(),
        DB_POOL="false",
        CELERY_BROKER_URL=broker,
        USAGE_REFRESH_SECONDS="1",
    )
    gateway = worker = None
    try:
        worker = start_worker(tmp_path, "broker-cut", "celery", **env)
        gateway, url = start_gateway(tmp_path, **env)
        proxy.cut()
        during = asyncio.run(
            send_calls(url, key, count=30, concurrency=5, tag="brk-a", pause=0.1, timeout=30)
        )
        alerts_during = receiver.completed
        proxy.restore()
        # The next calls queue the refresh again; the worker evaluates and delivers.
        after = asyncio.run(send_calls(url, key, count=5, concurrency=1, tag="brk-b", pause=1.2))
        delivered = wait_until(lambda: receiver.completed >= 2, timeout=60)
        time.sleep(2)  # room for a duplicate to show up, if there were one
    finally:
        for process in (gateway, worker):
            if process is not None:
                process.stop()
        proxy.stop()
        receiver.stop()
        _flush_private_broker(host, port)
    ledger = books(tag="brk-", budget=budget)
    report(
        "broker_lost",
        during,
        ledger,
        sent_total=during.sent + after.sent,
        alerts_during_outage=alerts_during,
        alerts_delivered=receiver.completed,
        overshoot=str(max(ledger.raw_cost - budget.amount, 0)),
    )
    assert during.statuses == {200: 30} and after.statuses == {200: 5}
    assert ledger.recorded == 35 == len(upstream.chat_calls) and ledger.duplicates == 0
    assert ledger.balanced
    assert alerts_during == 0
    assert delivered and receiver.completed == 2  # one per threshold, none twice
    assert len(set(receiver.alert_ids)) == 2
    assert BudgetAlertEvent.objects.filter(delivered_at__isnull=False).count() == 2


def _flush_private_broker(host: str, port: int) -> None:
    import redis

    redis.Redis(host=host, port=port, db=PRIVATE_BROKER_DB).flushdb()


def test_a_worker_killed_mid_delivery_does_not_send_the_alert_twice(tmp_path, publish_for_real):
    from django.utils import timezone

    from costs.budgets import budget_create
    from costs.models import BudgetAlertEvent
    from costs.tasks import alert_event_deliver_task
    from infra_dashboard.celery import app

    host, port = _redis_host_port()
    _flush_private_broker(host, port)
    broker = f"redis://{host}:{port}/{PRIVATE_BROKER_DB}"
    queue = "reliability-kill"
    receiver = Receiver(delay=3.0)
    budget = budget_create(
        name="kill watch",
        amount="1",
        thresholds=["0.5"],
        webhook_url=receiver.url,
        in_app=False,
    )
    event = BudgetAlertEvent.objects.create(  # what budgets_evaluate records, pending
        budget=budget,
        period_start=timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0),
        threshold="0.5",
        spent="0.6",
        amount="1",
        webhook_status="pending",
    )
    env = {
        "DATABASE_URL": database_url(),
        "DB_POOL": "false",
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT": "4",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "ALERT_CLAIM_SECONDS": "6",
        "SECRET_KEY": settings.SECRET_KEY,
    }
    first = second = None
    try:
        first = start_worker(tmp_path, "doomed", queue, **env)
        with app.connection_for_write(broker) as connection:
            alert_event_deliver_task.apply_async(
                args=[event.id], queue=queue, connection=connection
            )
        assert wait_until(lambda: receiver.started >= 1, timeout=30), first.output()
        first.kill()  # SIGKILL the whole worker (main process and its pool child) mid-request
        killed_at_started = receiver.started
        second = start_worker(tmp_path, "heir", queue, **env)
        # The claim (6 s) outlives the visibility timeout (4 s): the redelivered task sees
        # the dead worker's claim, backs off, and is retried by the sweep after it expires.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            event.refresh_from_db()
            if event.delivered_at is not None:
                break
            if event.claimed_until is None or event.claimed_until <= timezone.now():
                with app.connection_for_write(broker) as connection:  # what beat's sweep does
                    alert_event_deliver_task.apply_async(
                        args=[event.id], queue=queue, connection=connection
                    )
            time.sleep(1)
        time.sleep(4)  # leave room for a redelivered duplicate to arrive
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()
        receiver.stop()
        _flush_private_broker(host, port)
    event.refresh_from_db()
    figures = {
        "webhook_requests_started": receiver.started,
        "webhook_deliveries_completed": receiver.completed,
        "started_before_kill": killed_at_started,
        "attempts": event.attempts,
        "distinct_alerts": len(set(receiver.alert_ids)),
        "delivered_at": str(event.delivered_at),
        "last_error": event.last_error,
    }
    print(f"\nFAULT worker_killed: {figures}", flush=True)
    assert event.delivered_at is not None and event.webhook_status == "sent"
    # The killed attempt had reached the receiver (a webhook is at-least-once on the wire);
    # the heir delivers once more with the same Idempotency-Key, and never again after.
    assert killed_at_started == 1 and receiver.started == 2
    assert set(receiver.alert_ids) == {f"budget-alert-{event.id}"}  # one alert, deduplicable
    assert event.attempts == 2


def test_a_worker_killed_mid_rollup_never_double_counts(prices, tmp_path, publish_for_real):
    """Rollups rewrite whole buckets in one transaction: a kill leaves old or new, never both."""
    from decimal import Decimal

    from django.db.models import Count, Sum
    from django.utils import timezone

    from calls.models import LLMCall
    from costs.models import Granularity, UsageRollup
    from costs.rollups import COMMIT_LAG, rollups_update
    from costs.tasks import rollups_update_task
    from infra_dashboard.celery import app
    from llm_gateway.demo_data import demo_calls_generate

    now = timezone.now() - COMMIT_LAG * 2
    LLMCall.objects.bulk_create(demo_calls_generate(count=3000, days=2, now=now), batch_size=1000)
    host, port = _redis_host_port()
    _flush_private_broker(host, port)
    broker = f"redis://{host}:{port}/{PRIVATE_BROKER_DB}"
    queue = "reliability-rollup"
    env = {
        "DATABASE_URL": database_url(),
        "DB_POOL": "false",
        "CELERY_BROKER_URL": broker,
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "SECRET_KEY": settings.SECRET_KEY,
    }
    first = second = None
    try:
        first = start_worker(tmp_path, "rollup-doomed", queue, **env)
        with app.connection_for_write(broker) as connection:
            rollups_update_task.apply_async(queue=queue, connection=connection)
        wait_until(lambda: "rollups_update_task" in first.output(), timeout=30)
        time.sleep(0.3)
        first.kill()
        second = start_worker(tmp_path, "rollup-heir", queue, **env)
        wait_until(lambda: "succeeded" in second.output(), timeout=30)
    finally:
        for process in (first, second):
            if process is not None:
                process.stop()
        _flush_private_broker(host, port)
    rollups_update(now=timezone.now() + COMMIT_LAG)
    raw = LLMCall.objects.aggregate(calls=Count("id"), cost=Sum("cost"))
    minute = UsageRollup.objects.filter(granularity=Granularity.MINUTE).aggregate(
        calls=Sum("calls"), cost=Sum("cost")
    )
    print(f"\nFAULT worker_killed_rollup: raw={raw} minute_rollups={minute}", flush=True)
    assert raw["calls"] == minute["calls"]
    assert Decimal(raw["cost"]) == Decimal(minute["cost"])
