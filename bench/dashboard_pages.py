"""Server render time of every dashboard page, after seeding N calls.

Not run in CI. Prints JSON: p50/p95 milliseconds per page (full page and the
HTMX body partial), measured through Django's test client with a staff login,
on whatever database DATABASE_URL points at. It seeds into that database, so
point it at a scratch one.

    # SQLite, 100k calls (default)
    DATABASE_URL=sqlite:////tmp/bench.sqlite3 .venv/bin/python bench/dashboard_pages.py
    # PostgreSQL, 1M calls (takes a while to seed; reuse with --no-seed)
    createdb bench_dash
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_dash \\
        .venv/bin/python bench/dashboard_pages.py --calls 1000000 --repeat 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra_dashboard.settings")

PAGES = [
    "/",
    "/costs/?range=30d",
    "/costs/budgets/",
    "/quality/?range=30d",
    "/performance/?range=7d",
    "/performance/?range=1h",
    "/requests/?range=30d",
    "/requests/?range=30d&q=timeout",
]


def _setup(calls: int, seed: bool) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["*"]
    quiet = open(os.devnull, "w")  # noqa: SIM115 - stdout stays pure JSON
    call_command("migrate", verbosity=0)
    call_command("load_prices", verbosity=0, stdout=quiet)
    from llm_gateway.models import LLMCall

    if seed and LLMCall.objects.count() < calls:
        call_command("seed_demo_data", calls=calls - LLMCall.objects.count(), seed=11, stdout=quiet)
        from costs.rollups import rollups_rebuild_all

        rollups_rebuild_all()


def _client():
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True}
    )
    client = Client()
    client.force_login(user)
    return client


def _time(client, path: str, repeat: int, **headers: str) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(path, **headers)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--no-seed", action="store_true", help="measure the data already there")
    args = parser.parse_args()
    _setup(args.calls, seed=not args.no_seed)
    from django.db import connection

    from llm_gateway.models import LLMCall

    client = _client()
    results = {}
    for path in PAGES:
        client.get(path)  # warm caches and the connection
        results[path] = {
            "page": _time(client, path, args.repeat),
            "body_partial": _time(
                client, path, args.repeat, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="page-body"
            ),
        }
    print(
        json.dumps(
            {"database": connection.vendor, "calls": LLMCall.objects.count(), "pages": results},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
