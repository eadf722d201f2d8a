"""Keep this process's rule and policy caches in step with admin edits, and store
inline validation results with the calls they belong to."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from validation.policy import validation_policy_cache_clear
from validation.selectors import invalidate_rules_cache
from validation.services import validation_results_store_for_calls


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
    validation_results_store_for_calls(records)


def policy_changed(sender: type, **kwargs: Any) -> None:
    """ValidationPolicy post_save/post_delete: the same two-step invalidation as rules."""
    validation_policy_cache_clear()
    transaction.on_commit(validation_policy_cache_clear)
