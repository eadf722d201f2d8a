"""Quality score and validity from a list of checks.

The score is deterministic so that dashboards and alerts are reproducible:

    score = clamp(1.0 - sum(PENALTIES[check.severity] for each failed check), 0.0, 1.0)

with penalties error 0.4, warning 0.15, info 0.05, rounded to 4 decimals. Two errors leave
0.2, so a score below ~0.5 always means "something serious". ``is_valid`` is False iff at
least one failed check has severity ``error``; warnings and info only lower the score.
"""

from __future__ import annotations

from collections.abc import Iterable

from .validators.base import ERROR, INFO, WARNING, Check

PENALTIES = {ERROR: 0.4, WARNING: 0.15, INFO: 0.05}


def quality_score(checks: Iterable[Check]) -> float:
    penalty = sum(PENALTIES.get(c.severity, 0.0) for c in checks if not c.passed)
    return round(min(1.0, max(0.0, 1.0 - penalty)), 4)


def is_valid(checks: Iterable[Check]) -> bool:
    return not any(not c.passed and c.severity == ERROR for c in checks)
