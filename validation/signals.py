"""Keep this process's rule and policy caches in step with admin edits."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from validation.policy import validation_policy_cache_clear
from validation.selectors import invalidate_rules_cache


def rule_changed(sender: type, **kwargs: Any) -> None:
    """Connected to ValidationRule post_save/post_delete in ValidationConfig.ready().

    Invalidate now and again on commit: a reader between the signal and the commit would
    otherwise cache the pre-change rules for a full TTL. Queryset.update() sends no signal;
    its callers must call invalidate_rules_cache() themselves.
    """
    invalidate_rules_cache()
    transaction.on_commit(invalidate_rules_cache)


def policy_changed(sender: type, **kwargs: Any) -> None:
    """ValidationPolicy post_save/post_delete: the same two-step invalidation as rules."""
    validation_policy_cache_clear()
    transaction.on_commit(validation_policy_cache_clear)
