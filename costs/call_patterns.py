"""Reads of per-call patterns the rollups do not keep, for recommendations.

Each reads only the requested window of the raw log, grouped in the database
or streamed with a chunked iterator, never a list of every row.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum

from calls.models import CallStatus, LLMCall

MIN_VALIDATED = 10  # fewer validated calls than this: a pass rate is noise
MIN_REPEATS = 5
MIN_TRUNCATED = 5
# The repeated-prompt scan hashes bodies in Python; past this many rows in a
# window it stops (the newest rows first), bounding its time and memory.
MAX_SCANNED_BODIES = 200_000
ZERO = Decimal(0)


def pass_rates(*, start: datetime, end: datetime) -> dict[str, dict[str, tuple[int, float]]]:
    """Validation pass rate per agent and model: {agent: {model: (n, rate)}}.

    Read through the call log's ``validation`` relation (each result belongs to
    one call), so costs never imports the validation app."""
    rows = (
        LLMCall.objects.filter(created_at__gte=start, created_at__lt=end, validation__isnull=False)
        .values("agent_name", "model")
        .annotate(n=Count("id"), ok=Count("id", filter=Q(validation__is_valid=True)))
    )
    rates: dict[str, dict[str, tuple[int, float]]] = defaultdict(dict)
    for row in rows:
        if row["n"] >= MIN_VALIDATED:
            rates[row["agent_name"]][row["model"]] = (row["n"], row["ok"] / row["n"])
    return rates


def wasted_on_failures(*, start: datetime, end: datetime) -> dict[tuple[str, str], Decimal]:
    """Cost billed for calls that did not succeed, per (agent, model)."""
    rows = (
        LLMCall.objects.filter(created_at__gte=start, created_at__lt=end, cost__gt=0)
        .exclude(status=CallStatus.SUCCESS)
        .values("agent_name", "model")
        .annotate(total=Sum("cost"))
    )
    return {(row["agent_name"], row["model"]): row["total"] or ZERO for row in rows}


def truncations(*, start: datetime, end: datetime) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Answers cut at max_tokens per (agent, model): (count, cost)."""
    rows = (
        LLMCall.objects.filter(created_at__gte=start, created_at__lt=end, finish_reason="length")
        .values("agent_name", "model")
        .annotate(n=Count("id"), total=Sum("cost"))
    )
    return {
        (row["agent_name"], row["model"]): (row["n"], row["total"] or ZERO)
        for row in rows
        if row["n"] >= MIN_TRUNCATED
    }


def repeated_prompts(
    *, start: datetime, end: datetime
) -> dict[tuple[str, str], tuple[int, Decimal]]:
    """Calls whose request body repeats an earlier one exactly, per (agent,
    model): (repeats, what the repeats cost). Cache hits are not counted."""
    rows = (
        LLMCall.objects.filter(
            created_at__gte=start,
            created_at__lt=end,
            status=CallStatus.SUCCESS,
            cache_hit=False,
            request_body__isnull=False,
        )
        .order_by("-created_at")
        .values_list("agent_name", "model", "request_body", "cost")
    )
    seen: dict[tuple[str, str, bytes], int] = {}
    found: dict[tuple[str, str], list] = defaultdict(lambda: [0, ZERO])
    for index, (agent, model, body, cost) in enumerate(rows.iterator(chunk_size=2000)):
        if index >= MAX_SCANNED_BODIES:
            break
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).digest()
        key = (agent, model, digest)
        if key in seen:
            found[(agent, model)][0] += 1
            found[(agent, model)][1] += cost
        seen[key] = 1
    return {group: (n, cost) for group, (n, cost) in found.items() if n >= MIN_REPEATS}
