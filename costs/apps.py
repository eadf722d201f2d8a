from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Costs and budgets"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from calls.models import LLMCall
        from costs.models import Budget, ModelPrice
        from costs.signals import budget_changed, call_recorded, price_changed

        # dispatch_uid: ready() can run twice (tests, autoreload); connect once.
        post_save.connect(price_changed, sender=ModelPrice, dispatch_uid="costs.price_saved")
        post_delete.connect(price_changed, sender=ModelPrice, dispatch_uid="costs.price_deleted")
        post_save.connect(budget_changed, sender=Budget, dispatch_uid="costs.budget_saved")
        post_delete.connect(budget_changed, sender=Budget, dispatch_uid="costs.budget_deleted")
        post_save.connect(call_recorded, sender=LLMCall, dispatch_uid="costs.call_recorded")
