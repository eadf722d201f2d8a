from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class ValidationConfig(AppConfig):
    name = "validation"
    verbose_name = "Response validation"

    def ready(self) -> None:
        # Models and the modules that use them import only once the registry is ready.
        from calls.signals import calls_written
        from validation.models import ValidationPolicy, ValidationRule
        from validation.signals import inline_results_store, policy_changed, rule_changed

        # dispatch_uid: ready() can run twice (tests, autoreload); connect once.
        post_save.connect(rule_changed, sender=ValidationRule, dispatch_uid="validation.rule_saved")
        post_delete.connect(
            rule_changed, sender=ValidationRule, dispatch_uid="validation.rule_deleted"
        )
        calls_written.connect(inline_results_store, dispatch_uid="validation.inline_results")
        for signal, uid in ((post_save, "saved"), (post_delete, "deleted")):
            uid = f"validation.policy_{uid}"
            signal.connect(policy_changed, sender=ValidationPolicy, dispatch_uid=uid)
