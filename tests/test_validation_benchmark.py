"""The validator measured against reviewers' labels (bench/validation.py's scoring).

The public labelled set sits beside the repository (``../shared/validation/``; set
``VALIDATION_LABELLED_SET`` to point elsewhere) and is skipped when absent. The answers in
tests/validation_answers.py were written separately, in other wording, to check that the
checks generalise rather than fit one set.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.validation import DEFAULT_SET, TARGETS, cli, load_set, score_labelled
from tests.validation_answers import ANSWERS

LABELLED_SET = Path(os.environ.get("VALIDATION_LABELLED_SET") or DEFAULT_SET)


def assert_targets(scores):
    assert scores["accuracy"] >= TARGETS["accuracy"], scores["misjudged"]
    assert scores["false_alarm_rate"] <= TARGETS["false_alarm_rate"], scores["misjudged"]
    for family, recall in scores["recall"].items():
        assert recall >= TARGETS["recall"], (family, scores["misjudged"])


@pytest.mark.skipif(not LABELLED_SET.exists(), reason=f"{LABELLED_SET} not present")
def test_public_labelled_set_meets_the_targets():
    scores = score_labelled(load_set(LABELLED_SET))
    print(json.dumps({k: v for k, v in scores.items() if k != "misjudged"}))
    assert_targets(scores)
    assert set(scores["recall"]) == {"quality", "format", "safety"}


def test_answers_in_other_wording_meet_the_targets():
    scores = score_labelled(ANSWERS)
    print(json.dumps(scores))
    assert_targets(scores)
    assert scores["misjudged"] == []


def test_scoring_counts_false_alarms_against_good_answers_only():
    good = {"id": "ok", "content": "Paris is the capital of France.", "expect_valid": True,
            "expect_failed_families": []}  # fmt: skip
    wrongly_failed = {**good, "id": "ok-2", "content": "Contact jane@acme.io."}
    missed = {**good, "id": "bad", "content": "Fine.", "expect_valid": False,
              "expect_failed_families": ["safety"]}  # fmt: skip
    scores = score_labelled([good, wrongly_failed, missed])
    assert scores["false_alarm_rate"] == 0.5
    assert scores["accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert scores["recall"] == {"safety": 0.0}
    assert scores["misjudged"] == ["bad", "ok-2"]
    assert scores["quality_targets_met"] is False


def test_bench_reports_speed_and_quality_for_a_given_set(tmp_path):
    path = tmp_path / "set.json"
    path.write_text(json.dumps(ANSWERS[:3] + ANSWERS[-3:]))
    result = cli(["--set", str(path), "--runs", "20"])
    assert result["bytes"] == 4096 and result["cpu_mean_ms"] > 0
    assert result["answers"] == 6 and "recall" in result
    missing = cli(["--set", str(tmp_path / "absent.json"), "--runs", "5"])
    assert "not found" in missing["set"] and "accuracy" not in missing
