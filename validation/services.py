"""Write side: validate a call's response and store the report next to the call."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from calls.models import LLMCall
from validation.models import ValidationResult
from validation.validator import ResponseValidator, ValidationReport

_validator = ResponseValidator()


def _report_fields(result: ValidationReport | dict[str, Any]) -> dict[str, Any]:
    """Accept the report object or its ``to_dict()`` (what a task or metadata carries)."""
    data = result.to_dict() if isinstance(result, ValidationReport) else result
    checks = list(data.get("checks") or [])
    return {
        "is_valid": bool(data["is_valid"]),
        "quality_score": float(data["quality_score"]),
        "checks": checks,
        "failed_families": sorted({c["family"] for c in checks if not c.get("passed")}),
        "policy": str(data.get("policy") or "")[:220],
    }


def validation_result_store(
    *, call_id: Any, result: ValidationReport | dict[str, Any]
) -> ValidationResult:
    """Create or overwrite the call's result: a retried task must never add a second row.

    Raises LLMCall.DoesNotExist when the call row is not (yet) committed, so the task can
    retry instead of failing on a foreign key at commit time.
    """
    call = LLMCall.objects.filter(pk=call_id).values("agent_name", "created_at").first()
    if call is None:
        raise LLMCall.DoesNotExist(f"LLMCall {call_id} not found")
    stored, _ = ValidationResult.objects.update_or_create(
        call_id=call_id,
        defaults={**_report_fields(result), "agent_name": call["agent_name"]},
        create_defaults={
            **_report_fields(result),
            "agent_name": call["agent_name"],
            "call_created_at": call["created_at"],
        },
    )
    return stored


def validation_results_store_for_calls(records: Iterable[Any]) -> None:
    """Store the inline results that call records carry (``record.validation``), in the
    transaction that writes the calls: registered with the call writer at startup
    (validation.apps), which knows nothing of validation. A batch written again after an
    ambiguous failure meets its own results: the call's unique key skips them."""
    rows = [
        ValidationResult(
            call_id=record.id,
            call_created_at=record.created_at,
            agent_name=record.agent_name[:200],
            **_report_fields(record.validation),
        )
        for record in records
        if record.validation is not None
    ]
    if rows:
        ValidationResult.objects.bulk_create(rows, ignore_conflicts=True)


def validate_and_store(
    *,
    call_id: Any,
    content: Any,
    agent_name: str | None,
    request: Any = None,
    finish_reason: str | None = None,
) -> ValidationReport:
    """Validate with the agent's DB rules and persist; returns the report."""
    report = _validator.validate(
        content, agent_name=agent_name, request=request, finish_reason=finish_reason
    )
    validation_result_store(call_id=call_id, result=report)
    return report
