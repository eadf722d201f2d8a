"""Dashboards polled through a database outage never hold up the API.

A dashboard request waits for the database (the pool's timeout) when it is
gone; the API's own database work (key lookups, budget reservations) must not
queue behind those waits, during the outage or once the database is back.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time

import aiohttp
import httpx
import pytest
from django.conf import settings

from tests.faults import TCPProxy, database_url, start_gateway, upstream_env, wait_until
from tests.ledger import chat_body

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PAGES = ["/", "/costs/", "/requests/", "/performance/", "/quality/", "/costs/budgets/"]
OUTAGE_S = 12.0


async def _api_latencies(url: str, key: str, count: int) -> list[float]:
    """Sequential calls (one agent): each one's latency in ms."""
    latencies = []
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(base_url=url, headers=headers) as client:
        for i in range(count):
            started = time.perf_counter()
            async with client.post(
                "/v1/chat/completions", json=chat_body(f"x-{i}", stream=False)
            ) as r:
                await r.read()
                assert r.status == 200, r.status
            latencies.append((time.perf_counter() - started) * 1000)
    return latencies


class DashboardPollers:
    """Staff browsers with every page open, each re-requesting its page a moment
    after the last answer (or the timeout) came back, as htmx polling does."""

    def __init__(self, url: str, session: str, per_page: int = 2, pause: float = 0.5) -> None:
        self.pause = pause
        self.url, self.cookies = url, {"sessionid": session}
        self.stop = threading.Event()
        self.statuses: dict[str, int] = {}
        self.threads = [
            threading.Thread(target=self._poll, args=(page,), daemon=True)
            for page in PAGES
            for _ in range(per_page)
        ]

    def _poll(self, page: str) -> None:
        with httpx.Client(base_url=self.url, cookies=self.cookies, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    status = str(client.get(page).status_code)
                except httpx.HTTPError as error:
                    status = type(error).__name__
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.stop.wait(self.pause)

    def __enter__(self) -> DashboardPollers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=40)


def test_dashboards_polled_through_a_database_outage_do_not_slow_the_api(
    upstream, prices, make_key, tmp_path, client, staff_user
):
    from costs.budgets import budget_create

    budget_create(name="outage cap", amount="1000", action="block")  # the API reserves on the DB
    key = make_key("api-agent")
    client.force_login(staff_user)
    session = client.cookies["sessionid"].value
    proxy = TCPProxy("127.0.0.1", int(settings.DATABASES["default"].get("PORT") or 5432)).start()
    gateway = None
    try:
        env = upstream_env(
            upstream,
            DATABASE_URL=database_url(port=proxy.port),
            BUDGET_CHECK_CACHE_SECONDS="1",
            LOG_LEVEL="ERROR",
        )
        gateway, url = start_gateway(tmp_path, **env)
        with DashboardPollers(url, session) as pollers:
            asyncio.run(_api_latencies(url, key, 20))  # warm-up
            before = asyncio.run(_api_latencies(url, key, 60))
            proxy.cut()
            time.sleep(OUTAGE_S)
            proxy.restore()
            ready = wait_until(
                lambda: httpx.get(url + "/readyz", timeout=15).status_code == 200, timeout=30
            )
            recovered_at = time.monotonic()
            first = asyncio.run(_api_latencies(url, key, 1))
            after = asyncio.run(_api_latencies(url, key, 60))
            after_took = time.monotonic() - recovered_at
    finally:
        if gateway is not None:
            gateway.stop()
        proxy.stop()
    figures = {
        "api_p50_before_ms": round(statistics.median(before), 2),
        "api_p50_after_ms": round(statistics.median(after), 2),
        "api_max_after_ms": round(max(after), 2),
        "first_call_after_recovery_ms": round(first[0], 2),
        "dashboard_statuses": pollers.statuses,
    }
    print(f"\nFAULT dashboards_outage: {json.dumps(figures)}", flush=True)
    assert ready
    assert pollers.statuses["200"] > 0
    # After recovery, with the dashboards still polling: the API as before the outage.
    assert statistics.median(after) <= statistics.median(before) * 1.5 + 5
    assert first[0] < 1000 and max(after) < 1000 and after_took < 30
