"""Keep this process's rule cache in step with ValidationRule edits, and store
inline validation results with the calls they belong to."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from validation.selectors import invalidate_rules_cache
from validation.services import validation_result_store


def rule_changed(sender: type, **kwargs: Any) -> None:
    """Connected to ValidationRule post_save/post_delete in ValidationConfig.ready().

    Invalidate now and again on commit: a reader between the signal and the commit would
    otherwise cache the pre-change rules for a full TTL. Queryset.update() sends no signal;
    its callers must call invalidate_rules_cache() themselves.
    """
    invalidate_rules_cache()
    transaction.on_commit(invalidate_rules_cache)


def inline_results_store(sender: type, records: list[Any], **kwargs: Any) -> None:
    """Connected to calls_written: a call validated inline keeps its result, in the
    transaction that writes its row (so neither exists without the other)."""
    for record in records:
        if record.validation is not None:
            validation_result_store(call_id=record.id, result=record.validation)
