from django.apps import AppConfig


class ValidationConfig(AppConfig):
    name = "validation"
    verbose_name = "Response validation"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from validation.models import ValidationRule
        from validation.signals import rule_changed

        # dispatch_uid: ready() can run twice (tests, autoreload); connect once.
        post_save.connect(rule_changed, sender=ValidationRule, dispatch_uid="validation.rule_saved")
        post_delete.connect(
            rule_changed, sender=ValidationRule, dispatch_uid="validation.rule_deleted"
        )
