"""Driving traffic at a live gateway and checking the books afterwards.

Each call carries a unique marker in its prompt, so a row recorded twice for
one request (a "duplicate") is visible even though every row has its own uuid.
The books balance when: calls sent = calls recorded, no marker appears twice,
and the raw call log, the minute rollups, the hour rollups and the budget's
spend all agree on the cost to the last stored decimal place.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import aiohttp

MARKER = re.compile(r"\bcall-[0-9a-z-]+-\d+\b")


@dataclass
class Traffic:
    sent: int = 0
    statuses: Counter = field(default_factory=Counter)
    non_openai_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def chat_body(marker: str, *, stream: bool, max_tokens: int = 16) -> dict:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"Say something about {marker}"}],
        "max_tokens": max_tokens,
        "stream": stream,
    }


async def _one(client: aiohttp.ClientSession, marker: str, stream: bool, traffic: Traffic) -> None:
    body = chat_body(marker, stream=stream)
    try:
        async with client.post("/v1/chat/completions", json=body) as response:
            text = (await response.read()).decode()
    except (aiohttp.ClientError, TimeoutError) as exc:
        traffic.statuses[f"transport:{type(exc).__name__}"] += 1
        return
    traffic.statuses[response.status] += 1
    if response.status >= 400 and not _openai_error(text):
        traffic.non_openai_errors.append(f"{response.status}: {text[:200]}")


def _openai_error(text: str) -> bool:
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error)


async def send_calls(
    base_url: str,
    key: str,
    *,
    count: int,
    concurrency: int,
    tag: str,
    stream_every: int = 0,
    timeout: float = 60.0,
    pause: float = 0.0,
) -> Traffic:
    """Send ``count`` chat calls, at most ``concurrency`` at once; stream every n-th."""
    traffic = Traffic()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)
    headers = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()
    # aiohttp, not httpx: at the soak's rate httpx's per-request CPU made the test
    # client, not the gateway, the slowest part of the run.
    async with aiohttp.ClientSession(
        base_url=base_url,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
        connector=aiohttp.TCPConnector(limit=concurrency),
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                stream = bool(stream_every) and index % stream_every == 0
                traffic.sent += 1
                await _one(client, f"call-{tag}-{index}", stream, traffic)
                if pause:
                    await asyncio.sleep(pause)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    traffic.seconds = time.monotonic() - started
    return traffic


@dataclass
class Books:
    recorded: int
    duplicates: int
    unmarked: int
    raw_cost: Decimal
    minute_cost: Decimal
    hour_cost: Decimal
    minute_calls: int
    budget_spend: Decimal | None
    markers: set[str] = field(default_factory=set)

    @property
    def balanced(self) -> bool:
        costs = {self.raw_cost, self.minute_cost, self.hour_cost}
        if self.budget_spend is not None:
            costs.add(self.budget_spend)
        return len(costs) == 1 and self.minute_calls == self.recorded


def books(*, tag: str, budget=None) -> Books:
    """Fold every recorded call into the rollups, then compare all the ledgers."""
    from django.db.models import Sum
    from django.utils import timezone

    from calls.models import LLMCall
    from costs.models import Granularity, UsageRollup
    from costs.rollups import COMMIT_LAG, rollups_update
    from costs.selectors import budget_spend

    rollups_update(now=timezone.now() + COMMIT_LAG + timedelta(seconds=1))
    markers: Counter = Counter()
    unmarked = 0
    for body in LLMCall.objects.values_list("request_body", flat=True).iterator():
        found = MARKER.findall(json.dumps(body))
        if found and found[0].startswith(f"call-{tag}"):
            markers[found[0]] += 1
        else:
            unmarked += 1
    zero = Decimal("0")

    def total(granularity: str, field_name: str = "cost"):
        rows = UsageRollup.objects.filter(granularity=granularity)
        return rows.aggregate(total=Sum(field_name))["total"] or 0

    return Books(
        recorded=LLMCall.objects.count(),
        duplicates=sum(n - 1 for n in markers.values() if n > 1),
        unmarked=unmarked,
        raw_cost=LLMCall.objects.aggregate(total=Sum("cost"))["total"] or zero,
        minute_cost=Decimal(total(Granularity.MINUTE)),
        hour_cost=Decimal(total(Granularity.HOUR)),
        minute_calls=int(total(Granularity.MINUTE, "calls")),
        budget_spend=budget_spend(budget=budget).spend if budget is not None else None,
        markers=set(markers),
    )


def upstream_markers(fake) -> set[str]:
    """The markers of the calls that reached the (fake) provider."""
    bodies = [json.dumps(call.body, default=str) for call in fake.chat_calls]
    return {marker for body in bodies for marker in MARKER.findall(body)}


def report(name: str, traffic: Traffic, ledger: Books, **extra: object) -> None:
    """The figures each fault test prints (pytest -s, or the captured output on failure)."""
    figures = {
        "sent": traffic.sent,
        "recorded": ledger.recorded,
        "duplicates": ledger.duplicates,
        "statuses": {str(k): v for k, v in sorted(traffic.statuses.items(), key=str)},
        "raw_cost": str(ledger.raw_cost),
        "rollup_cost": str(ledger.minute_cost),
        "budget_spend": str(ledger.budget_spend),
        "seconds": round(traffic.seconds, 1),
        **extra,
    }
    print(f"\nFAULT {name}: {json.dumps(figures)}", flush=True)
