"""The quality page by check, severity and policy; the request page's verdict per check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import LLMCall
from validation.check_stats import check_breakdown, quality_by_policy
from validation.models import ValidationResult
from validation.validator import ResponseValidator
from validation.validators.base import SEVERITIES

pytestmark = pytest.mark.django_db

PROFANE = "Honestly the old expenses tool was a shitshow, so use the new portal."
TRUNCATED = "Partition the table by date, then cluster it by customer and the"


def stored(content, *, agent="support", policy=None, finish_reason=None, minutes_ago=1):
    call = LLMCall.objects.create(
        agent_name=agent, model="gpt-4o-mini", created_at=timezone.now() - timedelta(minutes=1)
    )
    report = ResponseValidator().validate(content, rules=[], finish_reason=finish_reason)
    data = report.to_dict()
    if policy is not None:
        data["policy"] = policy
    return ValidationResult.objects.create(
        call=call,
        is_valid=data["is_valid"],
        quality_score=data["quality_score"],
        checks=data["checks"],
        failed_families=report.failed_families,
        agent_name=agent,
        policy=data["policy"],
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


@pytest.fixture
def results():
    return [
        stored(PROFANE),
        stored(PROFANE, policy="policy: support"),
        stored(TRUNCATED, finish_reason="length"),
        stored("Paris is the capital of France.", agent="geo"),
    ]


def window():
    now = timezone.now()
    return {"start": now - timedelta(hours=1), "end": now + timedelta(minutes=1)}


def test_breakdown_counts_failed_checks_by_check_and_severity(results):
    breakdown = check_breakdown(**window())
    rows = {(r.check, r.severity): r.failures for r in breakdown.rows}
    assert rows[("no_profanity", "error")] == 2
    assert rows[("not_truncated", "error")] == 1
    assert breakdown.sampled == 3  # the valid answer with no failure is not opened
    assert list(breakdown.by_severity) == [s for s in reversed(SEVERITIES) if s == "error"]
    assert sum(breakdown.by_severity.values()) == sum(r.failures for r in breakdown.rows)


def test_breakdown_and_policies_follow_the_agent_filter(results):
    assert check_breakdown(**window(), agent="geo").rows == []
    (geo,) = quality_by_policy(**window(), agent="geo")
    assert (geo.policy, geo.validated, geo.valid) == ("built-in defaults", 1, 1)


def test_results_are_grouped_by_the_policy_they_were_judged_under(results):
    by_name = {row.policy: row for row in quality_by_policy(**window())}
    assert set(by_name) == {"built-in defaults", "policy: support"}
    assert by_name["built-in defaults"].validated == 3
    assert by_name["policy: support"].pass_rate_pct == 0.0


def test_results_stored_before_policies_were_recorded_count_as_the_defaults(results):
    ValidationResult.objects.filter(pk=results[0].pk).update(policy="")
    names = [row.policy for row in quality_by_policy(**window())]
    assert names == ["built-in defaults", "policy: support"]


def test_quality_page_shows_checks_by_severity_and_the_policy(staff_client, results):
    body = staff_client.get(
        "/quality/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="quality-checks"
    ).content.decode()
    assert "Failed checks by severity" in body
    assert "no_profanity" in body and "not_truncated" in body
    assert "policy: support" in body and "built-in defaults" in body


def test_request_page_shows_each_checks_verdict_severity_and_message(staff_client, results):
    result = results[2]
    body = staff_client.get(f"/requests/{result.call_id}/").content.decode()
    assert "judged under built-in defaults" in body
    assert "<th>Severity</th>" in body
    truncated = next(c for c in result.checks if c["name"] == "not_truncated")
    assert truncated["message"] in body
    assert body.count('class="check-fail"') == len([c for c in result.checks if not c["passed"]])
