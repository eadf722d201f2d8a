"""Precision/recall of the validator on the labelled corpus (run with -s to see the table)."""

from __future__ import annotations

import pytest

from tests.validation_corpus import CASES, Case
from validation.validator import ResponseValidator, ValidationReport
from validation.validators import FAMILIES

BUSINESS_PREFIX = "rule:"
FAMILY_OF_CHECK = {
    "not_empty": "quality",
    "not_truncated": "quality",
    "adequate_length": "quality",
    "no_repetition": "quality",
    "code_fences_balanced": "quality",
    "complete_ending": "quality",
    "no_refusal_boilerplate": "quality",
    "json_parse": "format",
    "json_schema": "format",
    "markdown_fences": "format",
    "markdown_headings": "format",
    "markdown_lists": "format",
    "no_secrets": "safety",
    "no_profanity": "safety",
    "no_pii": "safety",
    "no_injection_echo": "safety",
}


def labelled_families(case: Case) -> set[str]:
    return {"business" if n.startswith(BUSINESS_PREFIX) else FAMILY_OF_CHECK[n] for n in case.fails}


def run(case: Case) -> ValidationReport:
    kwargs = {"rules": [], **case.kwargs}
    return ResponseValidator().validate(case.content, **kwargs)


def precision_recall(pairs: list[tuple[bool, bool]]) -> tuple[float, float]:
    """pairs of (expected positive, predicted positive); empty denominators count as 1.0."""
    tp = sum(1 for exp, got in pairs if exp and got)
    fp = sum(1 for exp, got in pairs if got and not exp)
    fn = sum(1 for exp, got in pairs if exp and not got)
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


@pytest.fixture(scope="module")
def results() -> list[tuple[Case, ValidationReport]]:
    return [(case, run(case)) for case in CASES]


def test_corpus_is_large_enough_and_ids_are_unique():
    assert len(CASES) >= 60
    assert len({case.id for case in CASES}) == len(CASES)


def test_invalid_detection_precision_and_recall_are_at_least_95_percent(results):
    pairs = [(not case.is_valid, not report.is_valid) for case, report in results]
    precision, recall = precision_recall(pairs)
    print(
        f"\nis_valid=false detection: precision={precision:.3f} recall={recall:.3f} n={len(pairs)}"
    )
    assert precision >= 0.95
    assert recall >= 0.95


def test_each_family_catches_its_own_labelled_cases(results):
    print()
    for family in FAMILIES:
        pairs = [
            (family in labelled_families(case), family in report.failed_families)
            for case, report in results
        ]
        precision, recall = precision_recall(pairs)
        labelled = sum(1 for expected, _ in pairs if expected)
        print(f"{family:<9} precision={precision:.3f} recall={recall:.3f} labelled={labelled}")
        assert labelled > 0
        assert recall == 1.0, family
        assert precision >= 0.95, family


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_labelled_checks_fail_and_validity_matches(case):
    report = run(case)
    failed = {check.name for check in report.checks if not check.passed}
    assert case.fails <= failed, report.issues
    assert report.is_valid is case.is_valid, report.issues
