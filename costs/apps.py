from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = "Costs and budgets"

    def ready(self) -> None:
        # Models and the modules that use them import only once the registry is ready.
        from calls.models import LLMCall
        from calls.services import settle_hook_register
        from calls.signals import calls_written
        from calls.spool_codec import reservation_codec_register
        from costs.models import Budget, ModelPrice
        from costs.reservation_codec import reservation_decode, reservation_encode
        from costs.reservations import settle_hook
        from costs.signals import budget_changed, calls_recorded, price_changed
        from costs.usage import window_calls
        from costs.usage_series import dimension_values
        from dashkit.rendering import dimension_source_register
        from dashkit.window_counts import call_count_source_register

        # dispatch_uid: ready() can run twice (tests, autoreload); connect once.
        post_save.connect(price_changed, sender=ModelPrice, dispatch_uid="costs.price_saved")
        post_delete.connect(price_changed, sender=ModelPrice, dispatch_uid="costs.price_deleted")
        post_save.connect(budget_changed, sender=Budget, dispatch_uid="costs.budget_saved")
        post_delete.connect(budget_changed, sender=Budget, dispatch_uid="costs.budget_deleted")
        calls_written.connect(calls_recorded, dispatch_uid="costs.calls_recorded")
        post_save.connect(calls_recorded, sender=LLMCall, dispatch_uid="costs.call_saved")
        # The call writer settles budget reservations in its own transaction.
        settle_hook_register(settle_hook)
        # ... and journals them in its write-ahead spool, to settle them after a kill.
        reservation_codec_register(reservation_encode, reservation_decode)
        # The filter bar's choices come from the rollups, which costs owns.
        dimension_source_register(dimension_values)
        call_count_source_register(window_calls)
