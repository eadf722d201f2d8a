from django.apps import AppConfig


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Costs and budgets"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from costs.models import ModelPrice
        from costs.signals import price_changed

        # dispatch_uid: ready() can run twice (tests, autoreload); connect once.
        post_save.connect(price_changed, sender=ModelPrice, dispatch_uid="costs.price_saved")
        post_delete.connect(price_changed, sender=ModelPrice, dispatch_uid="costs.price_deleted")
