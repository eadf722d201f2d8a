from django.apps import AppConfig


class ValidationConfig(AppConfig):
    name = "validation"
    verbose_name = "Response validation"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from llm_gateway.services import companion_writers
        from validation.models import ValidationPolicy, ValidationRule
        from validation.services import validation_results_store_for_calls
        from validation.signals import policy_changed, rule_changed

        # dispatch_uid: ready() can run twice (tests, autoreload); connect once.
        post_save.connect(rule_changed, sender=ValidationRule, dispatch_uid="validation.rule_saved")
        post_delete.connect(
            rule_changed, sender=ValidationRule, dispatch_uid="validation.rule_deleted"
        )
        for signal, uid in ((post_save, "saved"), (post_delete, "deleted")):
            uid = f"validation.policy_{uid}"
            signal.connect(policy_changed, sender=ValidationPolicy, dispatch_uid=uid)
        # Inline results travel with the call record and are written with it.
        if validation_results_store_for_calls not in companion_writers:
            companion_writers.append(validation_results_store_for_calls)
