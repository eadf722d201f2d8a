"""Server time of every dashboard page and HTMX partial at 100 k and 1 M calls.

Not run in CI. Loads synthetic calls (``llm_gateway.demo_data``) into the
PostgreSQL database in DATABASE_URL with COPY, validation results for a share
of them (COPY too), builds the usage rollups with the real job, then times
each page and each of its HTMX partials through Django's test client with a
staff login, the 30-day CSV export (streamed and discarded, rows/s), the
newest session's page and the time to the first rows of the request
explorer's export.
Prints one JSON line per measurement, then one growth line per page when
several sizes ran::

    psql -h 127.0.0.1 -U postgres -c 'create database bench_dash'
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_dash
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/dashboard.py --sizes 100000,1000000 --repeat 20
    .venv/bin/python bench/dashboard.py --reuse          # measure the 1 M already loaded

It deletes and reloads the call log of that database (unless ``--reuse``
finds N calls there), so point it at a scratch database.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")
# DEBUG would keep every query in memory and serve static files through Django.
os.environ.setdefault("DEBUG", "false")

DAYS = 30
VALIDATED_SHARE = 0.3
# SQLite has no COPY and a single writer: a million ORM inserts take many
# minutes, and its planner says nothing about the production database. The
# goal (p95 <= 200 ms at 1 M calls) is about PostgreSQL, so only small
# smoke runs are allowed on SQLite.
SQLITE_MAX_CALLS = 100_000
CHECK_FAMILIES = (("min_length", "quality"), ("pii", "safety"), ("json_schema", "format"))


def _pages() -> list[tuple[str, str, list[str]]]:
    """(name, path with query, HTMX targets): every page and every partial it polls."""
    from costs.views import BUDGET_SECTIONS, COSTS_SECTIONS
    from infra_dashboard.views import OVERVIEW_SECTIONS
    from llm_gateway.views import PERFORMANCE_SECTIONS
    from validation.views import QUALITY_SECTIONS

    body = ["page-body"]
    return [
        ("overview", "/", [*OVERVIEW_SECTIONS, *body]),
        ("costs 30d", "/costs/?range=30d", [*COSTS_SECTIONS, *body]),
        ("costs 24h agent", "/costs/?range=24h&agent=Support+Bot", [*COSTS_SECTIONS]),
        ("budgets", "/costs/budgets/", [*BUDGET_SECTIONS, *body]),
        ("quality 30d", "/quality/?range=30d", [*QUALITY_SECTIONS, *body]),
        ("quality 24h", "/quality/?range=24h", [*QUALITY_SECTIONS]),
        ("performance 30d", "/performance/?range=30d", [*PERFORMANCE_SECTIONS, *body]),
        ("performance 1h", "/performance/?range=1h", [*PERFORMANCE_SECTIONS]),
        ("requests 30d", "/requests/?range=30d", ["requests-results", *body]),
        ("requests filtered", "/requests/?range=30d&agent=CTO+Agent&status=error", body),
        ("requests search", "/requests/?range=30d&q=timeout", body),
        ("requests invalid", "/requests/?range=30d&validation=invalid", body),
        ("requests 30d by cost", "/requests/?range=30d&sort=cost", body),
        ("requests 24h by latency", "/requests/?range=24h&sort=latency", body),
        ("costs 30d by user", "/costs/?range=30d&group=user", [*COSTS_SECTIONS]),
        ("costs 30d one tag", "/costs/?range=30d&tag=env%3Dprod", [*COSTS_SECTIONS]),
        ("sessions 24h", "/sessions/?range=24h", ["sessions-results", *body]),
        ("sessions 30d by cost", "/sessions/?range=30d&order=cost", body),
        ("sessions 30d agent", "/sessions/?range=30d&agent=Support+Bot", body),
        ("sessions 30d tag", "/sessions/?range=30d&tag=team%3Dsearch", body),
        ("users 30d", "/users/?range=30d", ["users-trend", "users-results", *body]),
        ("users 24h agent", "/users/?range=24h&agent=CTO+Agent&order=cost", body),
        ("alerts", "/costs/alerts/", []),
        ("keys", "/keys/", []),
    ]


# --- loading ------------------------------------------------------------------------------


def _setup() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["*"]
    quiet = open(os.devnull, "w")  # noqa: SIM115 - stdout stays pure JSON lines
    call_command("migrate", verbosity=0, stdout=quiet)
    call_command("load_prices", verbosity=0, stdout=quiet)


def _copy_value(value: Any) -> Any:
    # COPY's text format takes JSON as its text; every other type has a dumper.
    return json.dumps(value) if isinstance(value, dict | list) else value


def _copy_connection() -> Any:
    """A connection of its own for COPY: while a COPY streams, its connection
    can run nothing else, and generating rows reads the price table through
    Django's connection (demo_data prices every call)."""
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    return psycopg.connect(**params)


def _copy_rows(target: Any, table: str, columns: list[str], rows: Iterator[list[Any]]) -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        return _insert_rows(table, columns, rows)
    count = 0
    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    with target.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _insert_rows(table: str, columns: list[str], rows: Iterator[list[Any]]) -> int:
    """SQLite smoke runs only (no COPY): plain batched INSERTs."""
    from itertools import islice

    from django.db import connection

    names = ", ".join(connection.ops.quote_name(c) for c in columns)
    sql = f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
    count = 0
    with connection.cursor() as cursor:
        while batch := list(islice(rows, 2000)):
            cursor.executemany(sql, [[_sqlite_value(v) for v in row] for row in batch])
            count += len(batch)
    return count


def _sqlite_value(value: Any) -> Any:
    # What Django itself stores there: hex UUIDs, naive UTC times, decimal text.
    import uuid
    from datetime import UTC
    from decimal import Decimal

    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return str(value) if isinstance(value, Decimal) else value


def _validation_row(rng: random.Random, call: Any) -> list[Any]:
    valid = call.status == "success" and rng.random() < 0.85
    failed = [] if valid else rng.sample(CHECK_FAMILIES, rng.choice((1, 1, 2)))
    checks = [
        {"name": name, "family": family, "passed": (name, family) not in failed, "message": ""}
        for name, family in CHECK_FAMILIES
    ]
    score = rng.uniform(0.75, 1.0) if valid else rng.uniform(0.1, 0.7)
    families = sorted({family for _, family in failed})
    scored = [valid, round(score, 3), json.dumps(checks), json.dumps(families)]
    return [call.id, *scored, call.agent_name, call.created_at, "", call.created_at]


USERS = 3000
TEAMS = ("search", "support", "growth", "platform")


def _attribute(rng: random.Random, call: Any) -> None:
    """End users, sessions and tags for the sessions, users and per-tag pages,
    unless the generator already gave the call some: a few heavy users and many
    light ones, a session per user per hour, tags on half the calls."""
    if call.session_id or call.end_user or call.tags:
        return
    if rng.random() < 0.6:
        # Log-uniform: customer-0001 has ~9 % of the traffic, most have a little.
        call.end_user = f"customer-{int(USERS ** rng.random()):04d}"
        call.session_id = f"{call.end_user}/{call.created_at:%Y%m%d-%H}"
    elif rng.random() < 0.3:
        call.session_id = f"job {call.created_at:%Y%m%d-%H}-{rng.randrange(40)}"
    if rng.random() < 0.5:
        call.tags = {"env": rng.choice(("prod", "prod", "staging")), "team": rng.choice(TEAMS)}


def load_calls(*, count: int, seed: int, now: datetime) -> dict[str, float]:
    """COPY ``count`` synthetic calls, and results for a share of them, in one transaction."""
    from contextlib import nullcontext

    from django.db import connection

    from calls.models import LLMCall
    from llm_gateway.demo_data import demo_calls_generate

    fields = LLMCall._meta.concrete_fields
    rng = random.Random(seed)
    attribution_rng = random.Random(seed + 2)
    validated: list[list[Any]] = []

    def call_rows() -> Iterator[list[Any]]:
        for call in demo_calls_generate(count=count, days=DAYS, now=now, seed=seed):
            _attribute(attribution_rng, call)
            if rng.random() < VALIDATED_SHARE:
                validated.append(_validation_row(rng, call))
            yield [_copy_value(getattr(call, f.attname)) for f in fields]

    started = time.perf_counter()
    postgres = connection.vendor == "postgresql"
    # psycopg's connection block commits both COPYs together at its end.
    with _copy_connection() if postgres else nullcontext() as target:
        _copy_rows(target, LLMCall._meta.db_table, [f.column for f in fields], call_rows())
        copied = time.perf_counter()
        columns = ["call_id", "is_valid", "quality_score", "checks", "failed_families"]
        # COPY fills no model default; call_created_at is the partition key (its call's time).
        columns += ["agent_name", "created_at", "policy", "call_created_at"]
        _copy_rows(target, "validation_validationresult", columns, iter(validated))
    done = time.perf_counter()
    _analyze()
    return {"calls_s": round(copied - started, 1), "results_s": round(done - copied, 1)}


def _analyze() -> None:
    from django.db import connection

    # VACUUM too on Postgres: the rebuild deletes and rewrites every rollup row,
    # and autovacuum would have cleaned the dead ones up by the time anyone looks.
    command = "VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE"
    with connection.cursor() as cursor:
        for table in (
            "llm_gateway_llmcall",
            "validation_validationresult",
            "costs_usagerollup",
            "costs_sessionsummary",
            "costs_userdailyrollup",
            "costs_tagdailyrollup",
        ):
            cursor.execute(f"{command} {table}")


def rollups_build() -> float:
    """The real rollup job over the whole log, a day at a time (bounded memory),
    then the cursor where the beat schedule would have left it."""
    from django.db.models import Min
    from django.utils import timezone

    from calls.models import LLMCall
    from costs.models import RollupCursor
    from costs.rollups import COMMIT_LAG, CURSOR, rollups_rebuild

    started = time.perf_counter()
    now = timezone.now()
    moment = LLMCall.objects.aggregate(first=Min("created_at"))["first"]
    while moment is not None and moment < now:
        rollups_rebuild(start=moment, end=moment + timedelta(days=1))
        moment += timedelta(days=1)
    RollupCursor.objects.update_or_create(name=CURSOR, defaults={"position": now - COMMIT_LAG})
    _analyze()
    return round(time.perf_counter() - started, 1)


def budgets_ensure() -> None:
    """A few budgets so the budgets page and the overview have work to show."""
    from decimal import Decimal

    from costs.models import Budget

    for name, scope, value, period in (
        ("Global monthly", "global", "", "monthly"),
        ("Support Bot daily", "agent", "Support Bot", "daily"),
        ("gpt-4o weekly", "model", "gpt-4o", "weekly"),
    ):
        Budget.objects.get_or_create(
            name=name,
            defaults={
                "scope": scope,
                "scope_value": value,
                "period": period,
                "amount": Decimal(5000),
            },
        )


def data_reset() -> None:
    from django.db import connection

    from calls.models import LLMCall
    from costs.models import (
        RollupCursor,
        SessionSummary,
        TagDailyRollup,
        UsageRollup,
        UserDailyRollup,
    )
    from validation.models import ValidationResult

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE validation_validationresult, llm_gateway_llmcall CASCADE")
    else:
        ValidationResult.objects.all().delete()
        LLMCall.objects.all().delete()
    UsageRollup.objects.all().delete()
    for model in (SessionSummary, UserDailyRollup, TagDailyRollup):
        model.objects.all().delete()
    RollupCursor.objects.all().delete()


# --- measuring ----------------------------------------------------------------------------


def _client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )
    client = Client()
    client.force_login(user)
    return client


def _get(client: Any, path: str, target: str | None) -> Any:
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target} if target else {}
    response = client.get(path, **headers)
    if response.status_code != 200:
        raise SystemExit(f"{path} [{target}]: HTTP {response.status_code}")
    return response


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 1),
    }


def time_one(client: Any, path: str, target: str | None, repeat: int) -> dict[str, Any]:
    from django.core.cache import cache
    from django.db import connection

    # Counted by a wrapper: each request resets connection.queries, so a
    # CaptureQueriesContext around the test client would see none.
    queries = []
    cache.clear()  # the first request pays for what the dashboards cache
    started = time.perf_counter()
    with connection.execute_wrapper(
        lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)
    ):
        _get(client, path, target)  # cold, and the query count of one request
    cold = (time.perf_counter() - started) * 1000
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        _get(client, path, target)
        samples.append((time.perf_counter() - started) * 1000)
    return {**_percentiles(samples), "cold_ms": round(cold, 1), "queries": len(queries)}


def time_export(client: Any, repeat: int) -> dict[str, Any]:
    """The 30-day CSV export, streamed to /dev/null: rows per second."""
    rates, samples, rows = [], [], 0
    with open(os.devnull, "w") as sink:
        for _ in range(repeat):
            started = time.perf_counter()
            response = _get(client, "/costs/export.csv?range=30d", None)
            rows = 0
            for chunk in response.streaming_content:
                sink.write(chunk.decode())
                rows += chunk.count(b"\n")
            elapsed = time.perf_counter() - started
            samples.append(elapsed * 1000)
            rates.append((rows - 1) / elapsed)
    return {
        **_percentiles(samples),
        "rows": rows - 1,
        "rows_per_s": round(statistics.median(rates)),
    }


EXPORT_ROWS = 10_000


def time_explorer_export(client: Any, repeat: int, *, rows: int = EXPORT_ROWS) -> dict[str, Any]:
    """The request explorer's 30-day JSONL export: time to its first batch and
    to its first ``rows`` rows (then the download is dropped, as a person
    cancelling would). Each batch is one keyset query, so neither may grow
    with the size of the log."""
    firsts, samples = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        response = _get(client, "/requests/export.jsonl?range=30d", None)
        seen, first = 0, None
        for chunk in response.streaming_content:
            seen += chunk.count(b"\n")
            first = first or time.perf_counter()
            if seen >= rows:
                break
        response.close()
        firsts.append(((first or time.perf_counter()) - started) * 1000)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        **_percentiles(samples),
        "first_batch_p50_ms": round(statistics.median(firsts), 1),
        "rows": min(seen, rows),
    }


def session_path() -> str:
    """The newest session's page (the demo data's sessions have several steps)."""
    from urllib.parse import quote

    from calls.models import LLMCall

    newest = (
        LLMCall.objects.exclude(session_id="")
        .order_by("-created_at")
        .values_list("session_id", flat=True)
        .first()
    )
    return f"/sessions/{quote(newest or 'none', safe='')}/"


def deep_page_path() -> str:
    """The request explorer 200 pages (10,000 calls) deep: keyset pages cost
    the same at any depth only if the cursor bound reaches the index."""
    from django.http import QueryDict

    from dashkit.filters import filters_parse
    from llm_gateway.selectors import call_page

    filters, after = filters_parse(QueryDict("range=30d")), ""
    for _ in range(200):
        after = call_page(filters=filters, after=after).next_cursor or ""
    return f"/requests/?range=30d&after={after}"


def measure(size: int, repeat: int) -> dict[str, dict[str, Any]]:
    """Print and return {label: figures} for every page, partial and the export."""
    client = _client()
    results = {}
    pages = [
        *_pages(),
        ("requests page 201", deep_page_path(), ["requests-results"]),
        ("session detail", session_path(), []),
    ]
    for name, path, targets in pages:
        for target in [None, *targets]:
            label = name if target is None else f"{name} [{target}]"
            figures = time_one(client, path, target, repeat)
            results[label] = figures
            print(json.dumps({"calls": size, "page": label, "path": path, **figures}), flush=True)
    export = time_export(client, max(3, repeat // 4))
    results["export.csv 30d"] = export
    print(json.dumps({"calls": size, "page": "export.csv 30d", **export}), flush=True)
    explorer = time_explorer_export(client, max(3, repeat // 4))
    label = f"requests export.jsonl first {EXPORT_ROWS:,}"
    results[label] = explorer
    print(json.dumps({"calls": size, "page": label, **explorer}), flush=True)
    return results


# --- main ---------------------------------------------------------------------------------


def _refuse_sqlite(sizes: list[int]) -> None:
    from django.db import connection

    if connection.vendor != "postgresql" and max(sizes) > SQLITE_MAX_CALLS:
        raise SystemExit(
            f"Refusing {max(sizes):,} calls on {connection.vendor}: it has no COPY, so "
            "loading means a million ORM inserts behind a single writer, and its planner "
            "says nothing about the production database the goal is about. Set "
            "DATABASE_URL=postgres://… (a scratch database: the call log is reloaded)."
        )


def ensure_size(size: int, *, reuse: bool) -> dict[str, Any]:
    """Bring the log to ``size`` calls: reuse it, top it up, or reload from scratch."""
    from django.utils import timezone

    from calls.models import LLMCall

    have = LLMCall.objects.count()
    if have == size and reuse:
        return {"calls": size, "loaded": 0}
    if not reuse or have > size:
        data_reset()
        have = 0
    timing = load_calls(count=size - have, seed=7 + have, now=timezone.now())
    timing["rollups_s"] = rollups_build()
    return {"calls": size, "loaded": size - have, **timing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="", help="e.g. 100000,1000000: load, measure, top up")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reuse", action="store_true", help="skip loading when N calls are there")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(",")) if args.sizes else [args.calls]
    _setup()
    _refuse_sqlite(sizes)
    budgets_ensure()
    runs = {}
    for i, size in enumerate(sizes):
        # Only the first size may start from scratch; the next ones top it up.
        loaded = ensure_size(size, reuse=args.reuse or i > 0)
        print(json.dumps({"load": loaded}), flush=True)
        runs[size] = measure(size, args.repeat)
    if len(sizes) > 1:
        small, large = runs[sizes[0]], runs[sizes[-1]]
        for label, figures in large.items():
            line: dict[str, Any] = {"growth": label}
            # Both: p95 over a few dozen requests of a 2 ms partial is one stray
            # scheduling delay; p50 is the steadier measure of what a page costs.
            for stat, key in (("p95_ms", "ratio"), ("p50_ms", "ratio_p50")):
                before, after = small[label][stat], figures[stat]
                line[f"{stat}_{sizes[0]}"], line[f"{stat}_{sizes[-1]}"] = before, after
                line[key] = round(after / before, 2) if before else None
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
