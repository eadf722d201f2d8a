"""The request explorer's export (CSV and JSON Lines, streamed, of the filtered
list) and its prompt preview, session, user and tags columns."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from calls.models import GatewayKey, LLMCall
from dashkit.filters import filters_parse
from dashkit.streaming import chunks_pulled
from llm_gateway import call_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls():
    now = timezone.now()
    key = GatewayKey.objects.create(name="k", agent_name="A", prefix="gw-pfx123", key_hash="h")
    rows = [
        LLMCall(
            agent_name="writer" if i % 2 else "=HYPERLINK(1)",
            model="gpt-4o-mini",
            created_at=now - timedelta(minutes=i),
            cost=Decimal("0.0000012345") * (i + 1),
            latency_ms=100.0 * ((i * 7) % 10),
            session_id="run/1 a" if i < 4 else "",
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736" if i < 4 else "",
            span_id=f"{i:016x}",
            parent_id=f"{0:016x}" if 0 < i < 4 else "",
            step=["plan", "search", "answer", "review"][i] if i < 4 else "",
            end_user="cust-1" if i % 3 == 0 else "cust-2",
            tags={"team": "support", "env": "prod" if i < 5 else "staging"},
            gateway_key=key,
            key_prefix=key.prefix,
            request_body={"messages": [{"role": "user", "content": f"question {i}"}]},
        )
        for i in range(7)
    ]
    return LLMCall.objects.bulk_create(rows)


def _body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def test_jsonl_follows_the_filters_and_echoes_attribution(staff_client, calls):
    response = staff_client.get("/requests/export.jsonl?range=1h&user=cust-1&tag=env=prod")
    assert response["Content-Type"] == "application/x-ndjson"
    assert "attachment" in response["Content-Disposition"]
    rows = [json.loads(line) for line in _body(response).splitlines()]
    # Users cust-1 are calls 0, 3, 6; env=prod drops 6. Newest first, as the explorer.
    assert [r["id"] for r in rows] == [str(calls[0].id), str(calls[3].id)]
    review = rows[1]
    assert review["session_id"] == "run/1 a" and review["step"] == "review"
    assert review["trace_id"] == calls[3].trace_id and review["parent_id"] == "0" * 16
    assert review["end_user"] == "cust-1" and review["tags"] == {"team": "support", "env": "prod"}
    assert review["cost"] == "0.0000049380"  # exact decimal text, never a float


def test_csv_follows_the_sort_and_defuses_formulas(staff_client, calls):
    text = _body(staff_client.get("/requests/export.csv?range=1h&sort=latency"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 7
    latencies = [float(r["latency_ms"]) for r in rows]
    assert latencies == sorted(latencies, reverse=True)
    assert {r["agent_name"] for r in rows} == {"writer", "'=HYPERLINK(1)"}
    assert json.loads(rows[0]["tags"])["team"] == "support"


def test_the_export_carries_no_key_and_no_body(staff_client, calls):
    for fmt in ("csv", "jsonl"):
        text = _body(staff_client.get(f"/requests/export.{fmt}?range=1h"))
        assert "gw-pfx123" not in text and "question" not in text
        assert "key" not in text.splitlines()[0]


def test_the_export_walks_the_keyset_a_batch_at_a_time(calls):
    filters = filters_parse(QueryDict("range=1h&sort=cost"))
    with CaptureQueriesContext(connection) as queries:
        batches = list(call_export.export_batches(filters=filters, size=2))
    assert [len(b) for b in batches] == [2, 2, 2, 1]
    assert len(queries) == 4  # one bounded query per batch, never the whole window
    costs = [Decimal(r["cost"]) for b in batches for r in b]
    assert costs == sorted(costs, reverse=True) and len(set(costs)) == 7


def test_an_empty_export_is_the_header_alone(staff_client, calls):
    text = _body(staff_client.get("/requests/export.csv?range=1h&user=nobody"))
    assert text.strip() == ",".join(call_export.FIELDS)
    assert _body(staff_client.get("/requests/export.jsonl?range=1h&user=nobody")) == ""


def test_only_staff_may_export(client, django_user_model, calls):
    anonymous = client.get("/requests/export.csv?range=1h")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    user = django_user_model.objects.create_user(username="u", password="p")
    client.force_login(user)
    assert client.get("/requests/export.jsonl?range=1h").status_code == 403


def test_an_unknown_format_is_a_404(staff_client):
    assert staff_client.get("/requests/export.xlsx").status_code == 404


def test_under_asgi_chunks_are_pulled_one_at_a_time():
    pulled: list[int] = []

    def chunks():
        for i in range(3):
            pulled.append(i)
            yield f"chunk {i}\n"

    async def first_then_rest():
        stream = chunks_pulled(chunks())
        first = await anext(stream)
        seen_after_first = list(pulled)
        rest = [chunk async for chunk in stream]
        return first, seen_after_first, rest

    first, seen, rest = asyncio.run(first_then_rest())
    assert first == "chunk 0\n" and seen == [0]  # nothing read ahead
    assert rest == ["chunk 1\n", "chunk 2\n"]


def test_the_explorer_shows_preview_session_user_tags_and_filtered_export_links(
    staff_client, calls
):
    LLMCall.objects.filter(id=calls[1].id).update(
        request_body={
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "user", "content": [{"type": "text", "text": "Why is   the sky blue?"}]},
            ]
        }
    )
    page = staff_client.get("/requests/?range=1h&tag=team%3Dsupport").content.decode()
    assert "question 0" in page and "Why is the sky blue?" in page
    assert 'href="/sessions/run%2F1%20a/"' in page
    assert "cust-2" in page and "team=support" in page
    assert 'href="/requests/export.csv?range=1h&amp;tag=team%3Dsupport"' in page
    assert 'href="/requests/export.jsonl?range=1h&amp;tag=team%3Dsupport"' in page


def test_under_asgi_the_export_streams_through_the_async_handler(staff_user, calls):
    """The server runs ASGI: there the export must be an async stream, which
    Django sends as it comes instead of reading it into a list first."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def fetch() -> tuple[bool, list[bytes]]:
        client = AsyncClient()
        await client.aforce_login(staff_user)
        response = await client.get("/requests/export.jsonl?range=1h&user=cust-2")
        return response.is_async, [chunk async for chunk in response.streaming_content]

    # From this (sync) thread: the handler's database work then runs here, on
    # the test's own connection, as it runs on the request's thread in a server.
    is_async, chunks = async_to_sync(fetch)()
    assert is_async
    rows = [json.loads(line) for line in b"".join(chunks).decode().splitlines()]
    assert {r["end_user"] for r in rows} == {"cust-2"} and len(rows) == 4


@pytest.mark.parametrize("path", ["/costs/export.csv?range=24h", "/costs/export.json?range=24h"])
def test_under_asgi_the_costs_exports_stream_too(staff_user, path):
    """The costs page's exports go through the same streamed download."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    async def fetch() -> tuple[bool, bytes]:
        client = AsyncClient()
        await client.aforce_login(staff_user)
        response = await client.get(path)
        return response.is_async, b"".join([c async for c in response.streaming_content])

    is_async, body = async_to_sync(fetch)()
    assert is_async and body
