"""The rest of a demo world around the synthetic calls: keys, validation
results, budgets in every state and the alerts they raise.

`make run` seeds this so every page opens with something to read: Budgets
shows one budget comfortably under, one past its warning threshold and one
overspent; Quality has failures to drill into; Alerts has alerts to
acknowledge; Keys shows spend per key.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal

from django.db.models import Sum

from calls.models import CallStatus, GatewayKey, LLMCall
from costs.budgets import budget_create, budgets_evaluate
from costs.periods import period_bounds
from llm_gateway.keys import gateway_key_create
from validation.models import Feedback, ValidationResult

DEMO_KEYS = (
    # agent, key name, rpm, tpm, allowed models
    ("Support Bot", "support-prod", 600, 200_000, ["gpt-4o-mini", "gpt-4.1-nano"]),
    ("CTO Agent", "cto-assistant", 60, None, []),
    ("Research Agent", "research-batch", 120, 500_000, ["o4-mini", "gpt-4o*"]),
    ("Cloud Architect", "architect-ci", 120, None, []),
)
# Check families and the checks the validators run (validation/validators/).
CHECKS = {
    "quality": ("not_empty", "adequate_length", "no_repetition", "complete_ending"),
    "format": ("json_parse", "markdown_lists", "code_fences_balanced"),
    "safety": ("no_secrets", "no_pii", "no_injection_echo"),
    "business": ("mentions_required_terms", "within_word_limit"),
}
FAILURE_MESSAGES = {
    "quality": "The answer stops mid-sentence.",
    "format": "Expected JSON; the answer is prose.",
    "safety": "The answer repeats an email address from the prompt.",
    "business": "Longer than the agent's 120-word limit.",
}


def demo_keys_create() -> dict[str, tuple[int, str]]:
    """A key per busy agent (the raw keys are discarded: nobody can use them),
    plus a revoked one, as a team's key list looks after a while."""
    keys = {}
    for agent, name, rpm, tpm, models in DEMO_KEYS:
        _, key = gateway_key_create(
            name=name, agent_name=agent, rpm_limit=rpm, tpm_limit=tpm, allowed_models=models
        )
        keys[agent] = (key.id, key.prefix)
    _, old = gateway_key_create(name="support-staging (leaked)", agent_name="Support Bot")
    GatewayKey.objects.filter(id=old.id).update(revoked_at=old.created_at)
    return keys


def demo_keys_touch() -> None:
    """Each key's last use is its newest call."""
    for key in GatewayKey.objects.filter(revoked_at=None):
        last = key.calls.order_by("-created_at").values_list("created_at", flat=True).first()
        if last is not None:
            GatewayKey.objects.filter(id=key.id).update(last_used_at=last)


def demo_validation_results(calls: Iterable[LLMCall], *, seed: int = 7) -> int:
    """Results for the agents that validate (about one call in two), a tenth failing."""
    rng = random.Random(seed + 2)
    results = [_result(rng, call) for call in calls if rng.random() < 0.55]
    ValidationResult.objects.bulk_create(results, batch_size=1000)
    return len(results)


def _result(rng: random.Random, call: LLMCall) -> ValidationResult:
    failed = rng.choice(list(CHECKS)) if rng.random() < 0.1 else ""
    checks = []
    for family, names in CHECKS.items():
        for name in names[:2]:
            passed = not (family == failed and name == names[0])
            message = "ok" if passed else FAILURE_MESSAGES[family]
            checks.append(
                {"name": name, "family": family, "passed": passed, "severity": "warning"}
                | {"message": message}
            )
    score = rng.uniform(0.25, 0.6) if failed else rng.uniform(0.78, 0.99)
    return ValidationResult(
        call=call,
        call_created_at=call.created_at,
        is_valid=not failed,
        quality_score=round(score, 3),
        checks=checks,
        failed_families=[failed] if failed else [],
        agent_name=call.agent_name,
        created_at=call.created_at,
    )


FEEDBACK_COMMENTS = {
    1.0: ("Exactly what I needed.", "Quick and clear.", ""),
    0.0: ("Did not answer my question.", "Wrong invoice number.", "Too long."),
}


def demo_feedback(*, seed: int = 7) -> int:
    """Thumbs from end users on about a third of the answers in sessions, and a
    reviewer's grade (-1 to 1) on some of them, as the feedback API stores them."""
    rng = random.Random(seed + 4)
    answers = (
        LLMCall.objects.filter(status=CallStatus.SUCCESS, step__in=("answer", "reply"))
        .only("id", "agent_name", "model", "created_at")
        .order_by("created_at", "id")
    )
    rows = []
    for call in answers.iterator(chunk_size=2000):
        if rng.random() >= 0.35:
            continue
        thumb = 1.0 if rng.random() < 0.8 else 0.0
        at = call.created_at + timedelta(seconds=rng.uniform(5, 600))
        rows.append(_feedback(call, "user", thumb, rng.choice(FEEDBACK_COMMENTS[thumb]), at))
        if rng.random() < 0.2:
            grade = round(rng.uniform(-1, 1), 2)
            rows.append(_feedback(call, "reviewer", grade, "", at + timedelta(hours=2)))
    Feedback.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _feedback(call: LLMCall, name: str, score: float, comment: str, at: datetime) -> Feedback:
    return Feedback(
        call=call,
        name=name,
        score=score,
        comment=comment,
        agent_name=call.agent_name,
        model=call.model,
        created_at=at,
        call_created_at=call.created_at,  # bulk_create skips save(): the partition key
    )


def _spent(period: str, now: datetime, **scope: str) -> Decimal:
    start, _ = period_bounds(period, at=now)
    calls = LLMCall.objects.filter(created_at__gte=start, created_at__lt=now, **scope)
    return calls.aggregate(total=Sum("cost"))["total"] or Decimal(0)


def _amount_for(spent: Decimal, used: str, *, fallback: str) -> Decimal:
    """An amount that puts ``spent`` at the fraction ``used`` of it (the field keeps
    four decimals: a demo agent on a small model spends cents a week)."""
    if spent <= 0:
        return Decimal(fallback)
    return (spent / Decimal(used)).quantize(Decimal("0.0001"), rounding=ROUND_UP)


# name, period, scope, scope value, share of the period's spend so far, action,
# thresholds: one comfortably under, one past its warning, one overspent, and
# a blocking cap with room left (a spent block budget would refuse demo calls).
DEMO_BUDGETS = (
    ("Platform monthly", "monthly", "global", "", "0.45", "alert", [0.5, 0.8, 1.0]),
    ("Support Bot weekly", "weekly", "agent", "Support Bot", "0.86", "alert", [0.8, 1.0]),
    ("Research monthly", "monthly", "agent", "Research Agent", "1.25", "alert", [0.5, 0.8, 1.0]),
    ("gpt-4o daily cap", "daily", "model", "gpt-4o", "0.3", "block", [0.8, 1.0]),
)
_SCOPE_FIELD = {"global": None, "agent": "agent_name", "model": "model"}


def demo_budgets_create(*, now: datetime) -> None:
    """Budgets under, warned and exceeded, then the evaluation that alerts on them."""
    for name, period, scope, value, share, action, thresholds in DEMO_BUDGETS:
        field = _SCOPE_FIELD[scope]
        spent = _spent(period, now, **({field: value} if field else {}))
        budget_create(
            name=name,
            amount=_amount_for(spent, share, fallback="5"),
            period=period,
            scope=scope,
            scope_value=value,
            action=action,
            thresholds=thresholds,
        )
    budgets_evaluate(at=now)


def successful_calls() -> Iterable[LLMCall]:
    return (
        LLMCall.objects.filter(status=CallStatus.SUCCESS)
        .only("id", "agent_name", "created_at")
        .iterator(chunk_size=2000)
    )
