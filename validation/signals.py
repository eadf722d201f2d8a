"""Keep this process's rule cache in step with ValidationRule edits."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from validation.selectors import invalidate_rules_cache


def rule_changed(sender: type, **kwargs: Any) -> None:
    """Connected to ValidationRule post_save/post_delete in ValidationConfig.ready().

    Invalidate now and again on commit: a reader between the signal and the commit would
    otherwise cache the pre-change rules for a full TTL. Queryset.update() sends no signal;
    its callers must call invalidate_rules_cache() themselves.
    """
    invalidate_rules_cache()
    transaction.on_commit(invalidate_rules_cache)
