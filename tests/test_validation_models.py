"""Database side of validation: rules, their admin form, storage and the Celery task."""

from __future__ import annotations

import pytest

from calls.models import LLMCall
from validation.forms import ValidationRuleForm
from validation.models import RuleKind, Severity, ValidationResult, ValidationRule
from validation.selectors import invalidate_rules_cache, rules_for_agent
from validation.services import validate_and_store, validation_result_store
from validation.tasks import validate_call
from validation.validator import ResponseValidator
from validation.validators import RULE_KINDS, SEVERITIES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rule_cache():
    """The rule cache is process-wide; tests must not see each other's rules."""
    invalidate_rules_cache()
    yield
    invalidate_rules_cache()


@pytest.fixture
def call():
    return LLMCall.objects.create(agent_name="support", model="gpt-4o-mini")


def make_rule(**fields):
    defaults = {"name": "r", "kind": "max_length", "config": {"value": 5}, "severity": "error"}
    return ValidationRule.objects.create(**{**defaults, **fields})


def form(kind, config, **fields):
    data = {"name": "r", "agent_name": "", "kind": kind, "severity": "warning", "enabled": True}
    return ValidationRuleForm(data={**data, **fields, "config": config})


def test_model_choices_match_the_validator_vocabulary():
    assert set(RuleKind.values) == set(RULE_KINDS)
    assert set(Severity.values) == set(SEVERITIES)


# --- form ----------------------------------------------------------------------------------


def test_form_rejects_invalid_regex_with_a_clear_message():
    bound = form("regex", '{"pattern": "([a-z"}')
    assert not bound.is_valid()
    assert bound.errors["config"][0].startswith("Invalid regular expression: ")


def test_form_rejects_invalid_json_schema_with_a_clear_message():
    bound = form("json_schema", '{"schema": {"type": "nope"}}')
    assert not bound.is_valid()
    assert bound.errors["config"][0].startswith("Invalid JSON Schema: ")


def test_form_names_the_missing_key_for_the_kind():
    bound = form("required_terms", '{"words": ["refund"]}')
    assert not bound.is_valid()
    assert "Missing key 'terms'" in bound.errors["config"][0]


def test_form_rejects_wrongly_typed_values():
    bound = form("min_length", '{"value": "ten"}')
    assert not bound.is_valid()
    assert "'value' must be a non-negative integer" in bound.errors["config"][0]


def test_form_accepts_a_valid_rule_and_saves_it():
    bound = form("regex", '{"pattern": "TICKET-\\\\d+", "must_match": true}', agent_name="desk")
    assert bound.is_valid(), bound.errors
    assert bound.save().config == {"pattern": r"TICKET-\d+", "must_match": True}


# --- rule loading --------------------------------------------------------------------------


def test_stored_rule_applies_to_its_agent_only():
    make_rule(name="short", agent_name="support")
    validator = ResponseValidator()
    assert not validator.validate("far too long", agent_name="support").is_valid
    assert validator.validate("far too long", agent_name="billing").is_valid
    assert validator.validate("far too long").is_valid


def test_rule_with_blank_agent_applies_to_every_agent():
    make_rule(name="short", agent_name="")
    for agent in ("support", "billing", None):
        report = ResponseValidator().validate("far too long", agent_name=agent)
        assert "rule:short" in {c.name for c in report.checks if not c.passed}


def test_disabled_rules_are_not_applied():
    make_rule(enabled=False)
    assert ResponseValidator().validate("far too long", agent_name="support").is_valid


def test_saving_a_rule_invalidates_the_cached_rules():
    assert rules_for_agent("support") == ()
    rule = make_rule(agent_name="support")
    assert [r.name for r in rules_for_agent("support")] == ["r"]
    rule.delete()
    assert rules_for_agent("support") == ()


def test_explicit_rules_bypass_the_database(django_assert_num_queries):
    make_rule(agent_name="support")
    with django_assert_num_queries(0):
        assert ResponseValidator().validate("far too long", agent_name="support", rules=[]).is_valid


def test_misconfigured_rule_saved_directly_never_crashes_validation():
    make_rule(kind="regex", config={"pattern": "(unclosed"}, agent_name="support")
    make_rule(name="bad_schema", kind="json_schema", config={"schema": {"type": 3}})
    make_rule(name="bad_shape", kind="required_terms", config=["not", "a", "dict"])
    report = ResponseValidator().validate("Hello there.", agent_name="support")
    bad = [c for c in report.checks if c.family == "business"]
    assert len(bad) == 3
    assert all(c.severity == "info" and c.message.startswith("rule misconfigured:") for c in bad)
    assert report.is_valid


# --- storage -------------------------------------------------------------------------------


def test_validate_and_store_is_idempotent(call):
    make_rule(name="short", agent_name="support")
    for _ in range(2):
        report = validate_and_store(call_id=call.id, content="far too long", agent_name="support")
    stored = ValidationResult.objects.get()
    assert (stored.call_id, stored.is_valid, stored.agent_name) == (call.id, False, "support")
    assert stored.quality_score == report.quality_score
    assert stored.failed_families == ["business"]
    assert call.validation == stored


def test_revalidation_overwrites_the_previous_result(call):
    validate_and_store(call_id=call.id, content="", agent_name="support")
    validate_and_store(call_id=call.id, content="A fine answer.", agent_name="support")
    stored = ValidationResult.objects.get(call=call)
    assert stored.is_valid and stored.failed_families == []


def test_store_accepts_the_report_dict_and_takes_agent_from_the_call(call):
    report = ResponseValidator().validate("", rules=[])
    stored = validation_result_store(call_id=str(call.id), result=report.to_dict())
    assert (stored.is_valid, stored.agent_name, stored.failed_families) == (
        False,
        "support",
        ["quality"],
    )
    assert stored.checks == report.to_dict()["checks"]


def test_gateway_metadata_dict_can_be_stored_twice_without_duplicates(call):
    metadata = ResponseValidator().validate("Fine answer.", rules=[]).to_dict()
    validation_result_store(call_id=call.id, result=metadata)
    validation_result_store(call_id=call.id, result=metadata)
    assert ValidationResult.objects.filter(call=call).count() == 1


def test_store_for_an_unknown_call_raises_does_not_exist():
    report = ResponseValidator().validate("ok", rules=[])
    with pytest.raises(LLMCall.DoesNotExist):
        validation_result_store(call_id="00000000-0000-0000-0000-000000000000", result=report)


def test_task_validates_and_stores_using_the_request_format(call):
    request = {
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"},
    }
    summary = validate_call.delay(str(call.id), "not json", "support", request, "stop").get()
    assert summary["is_valid"] is False
    assert "format" in ValidationResult.objects.get(call=call).failed_families


# --- admin ---------------------------------------------------------------------------------


def test_admin_lists_rules_and_results_and_results_are_read_only(admin_client, call):
    make_rule()
    validate_and_store(call_id=call.id, content="fine.", agent_name="support")
    assert admin_client.get("/admin/validation/validationrule/").status_code == 200
    assert (
        admin_client.get("/admin/validation/validationresult/?q=" + str(call.id)[:8]).status_code
        == 200
    )
    assert admin_client.get("/admin/validation/validationresult/add/").status_code == 403


def test_admin_rule_form_shows_the_config_error(admin_client):
    data = {"name": "r", "agent_name": "", "kind": "regex", "config": '{"pattern": "("}',
            "severity": "warning", "enabled": "on"}  # fmt: skip
    response = admin_client.post("/admin/validation/validationrule/add/", data)
    assert response.status_code == 200
    assert b"Invalid regular expression" in response.content
    assert not ValidationRule.objects.exists()


def test_database_outage_skips_rules_with_an_info_check_instead_of_failing(monkeypatch):
    from django.db import OperationalError

    def broken(agent_name):
        raise OperationalError("database is down")

    monkeypatch.setattr("validation.selectors.rules_for_agent", broken)
    report = ResponseValidator().validate("A fine answer.", agent_name="support")
    assert report.is_valid
    assert report.issues == [
        "business rules could not be loaded (OperationalError); rules were skipped"
    ]


def test_async_callers_load_rules_with_arules_for_agent():
    from asgiref.sync import async_to_sync

    from validation.selectors import arules_for_agent

    make_rule(agent_name="support")
    rules = async_to_sync(arules_for_agent)("support")
    assert not ResponseValidator().validate("far too long", rules=rules).is_valid


def test_rule_loading_inside_an_event_loop_degrades_to_an_info_check():
    from asgiref.sync import async_to_sync

    make_rule(agent_name="support")

    async def validate_in_loop():
        return ResponseValidator().validate("far too long", agent_name="support")

    report = async_to_sync(validate_in_loop)()
    assert report.is_valid
    assert "SynchronousOnlyOperation" in report.issues[0]
