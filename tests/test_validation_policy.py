"""Severity policy: defaults, per-agent overrides in the admin, and the verdict it yields."""

from __future__ import annotations

from pathlib import Path

import pytest

from validation.forms import ValidationPolicyForm
from validation.models import ValidationPolicy
from validation.policy import severity_policy_for, validation_policy_cache_clear
from validation.severity import CATALOG, DEFAULT_POLICY, SeverityPolicy, clean_overrides
from validation.validator import ResponseValidator

PROFANE = "The old expenses tool was a shitshow; use the new portal."
WITH_EMAIL = "Ask Marta Kowalski at marta.kowalski@globex-logistics.com about relocation."


def validate(content, **kwargs):
    kwargs.setdefault("rules", [])
    return ResponseValidator().validate(content, **kwargs)


def check_named(report, name):
    return next(check for check in report.checks if check.name == name)


@pytest.fixture(autouse=True)
def _fresh_policy_cache():
    validation_policy_cache_clear()
    yield
    validation_policy_cache_clear()


# --- pure policy -----------------------------------------------------------------------------


def test_every_check_the_validator_runs_has_a_documented_default():
    report = validate(
        "# T\n\n```\ncode", expected_format="markdown", finish_reason="length", request={}
    )
    json_report = validate('{"a": 1}', schema={"type": "object"})
    for check in report.checks + json_report.checks:
        assert check.name in CATALOG
        assert CATALOG[check.name].family == check.family


def test_default_policy_makes_profanity_invalid_and_says_which_policy_applied():
    report = validate(PROFANE)
    assert report.is_valid is False
    assert report.policy == DEFAULT_POLICY.name == report.to_dict()["policy"]


def test_a_check_lowered_to_warning_only_lowers_the_score():
    policy = SeverityPolicy("lenient", {"no_profanity": "warning"})
    report = validate(PROFANE, policy=policy)
    assert report.is_valid is True
    assert check_named(report, "no_profanity").severity == "warning"
    assert report.quality_score < 1.0 and report.policy == "lenient"


def test_a_family_can_be_raised_and_a_named_check_beats_its_family():
    policy = SeverityPolicy("strict", {"format": "error", "markdown_lists": "info"})
    report = validate("#Title\n\n- a\n* b", expected_format="markdown", policy=policy)
    assert check_named(report, "markdown_headings").severity == "error"
    assert check_named(report, "markdown_lists").severity == "info"
    assert report.is_valid is False


def test_a_check_switched_off_is_left_out_of_the_report():
    report = validate(PROFANE, policy=SeverityPolicy("p", {"no_profanity": "off"}))
    assert "no_profanity" not in {check.name for check in report.checks}
    assert report.is_valid is True and report.quality_score == 1.0


def test_personal_data_is_an_error_unless_the_agent_allows_it():
    assert validate(WITH_EMAIL).is_valid is False
    allowed = validate(WITH_EMAIL, policy=SeverityPolicy("hr", allow_personal_data=True))
    assert allowed.is_valid is True and allowed.issues == []


def test_configuration_diagnostics_stay_info_whatever_the_policy():
    policy = SeverityPolicy("strict", {"format": "error", "business": "error"})
    report = validate(
        '{"a": 1}',
        schema={"type": 12},
        rules=[{"kind": "regex", "config": {"pattern": "("}, "severity": "error"}],
        policy=policy,
    )
    assert {c.severity for c in report.failed_checks} == {"info"}
    assert report.is_valid is True


def test_business_rules_can_be_overridden_by_name():
    rules = [{"kind": "max_length", "config": {"value": 3}, "severity": "error", "name": "short"}]
    policy = SeverityPolicy("p", {"rule:short": "warning"})
    assert validate("far too long", rules=rules).is_valid is False
    assert validate("far too long", rules=rules, policy=policy).is_valid is True


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({"no_such_check": "error"}, "unknown check"),
        ({"no_pii": "fatal"}, "severity must be one of"),
        (["no_pii"], "JSON object"),
    ],
)
def test_bad_overrides_are_refused_with_the_reason(raw, problem):
    with pytest.raises(ValueError, match=problem):
        clean_overrides(raw)


# --- stored policies -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_agents_policy_wins_over_the_default_row_and_applies_when_loaded():
    ValidationPolicy.objects.create(agent_name="", severities={"no_profanity": "warning"})
    ValidationPolicy.objects.create(agent_name="hr-bot", allow_personal_data=True)
    assert severity_policy_for("sales-bot").overrides == {"no_profanity": "warning"}
    assert severity_policy_for("hr-bot").allow_personal_data is True
    hr = ResponseValidator().validate(WITH_EMAIL, agent_name="hr-bot")
    sales = ResponseValidator().validate(PROFANE, agent_name="sales-bot")
    assert (hr.is_valid, hr.policy) == (True, "policy: hr-bot")
    assert (sales.is_valid, sales.policy) == (True, "policy: all agents")


@pytest.mark.django_db
def test_editing_a_policy_takes_effect_at_once_in_this_process():
    policy = ValidationPolicy.objects.create(agent_name="bot", severities={"safety": "warning"})
    assert ResponseValidator().validate(PROFANE, agent_name="bot").is_valid is True
    policy.severities = {}
    policy.save()
    assert ResponseValidator().validate(PROFANE, agent_name="bot").is_valid is False
    policy.delete()
    assert severity_policy_for("bot") == DEFAULT_POLICY


@pytest.mark.django_db
def test_disabled_policies_and_agents_without_one_get_the_defaults():
    ValidationPolicy.objects.create(agent_name="bot", allow_personal_data=True, enabled=False)
    assert severity_policy_for("bot") == DEFAULT_POLICY
    assert severity_policy_for(None) == DEFAULT_POLICY


@pytest.mark.django_db
def test_policy_form_rejects_unknown_checks_and_saves_a_valid_policy():
    data = {"agent_name": "bot", "retry_model": "", "enabled": True}
    bad = ValidationPolicyForm(data={**data, "severities": '{"no_such": "error"}'})
    assert not bad.is_valid() and "unknown check" in str(bad.errors["severities"])
    good = ValidationPolicyForm(data={**data, "severities": '{"quality": "warning"}'})
    assert good.is_valid(), good.errors
    assert good.save().severities == {"quality": "warning"}


@pytest.mark.django_db
def test_admin_policy_page_lists_every_check_with_its_default(admin_client):
    page = admin_client.get("/admin/validation/validationpolicy/add/").content.decode()
    for name, info in CATALOG.items():
        assert f"{name} ({info.default})" in page


def test_docs_list_every_check_with_its_default_severity():
    docs = (Path(__file__).resolve().parents[1] / "docs/validation.md").read_text()
    section = docs.split("## Checks and default severities", 1)[1]
    for name, info in CATALOG.items():
        assert f"| `{name}` | {info.family} | **{info.default}** |" in section, name
