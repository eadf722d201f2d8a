"""The server process's garbage-collector settings (llm_gateway.gc_tuning)."""

from __future__ import annotations

import gc

from llm_gateway.gc_tuning import gc_tune


def test_gc_tune_freezes_startup_objects_and_sets_the_thresholds(settings):
    before = gc.get_threshold()
    settings.GATEWAY_GC_THRESHOLDS = (20000, 50, 100)
    gc.unfreeze()
    try:
        gc_tune()
        assert gc.get_threshold() == (20000, 50, 100)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_empty_thresholds_leave_the_collector_alone(settings):
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    settings.GATEWAY_GC_THRESHOLDS = ()
    gc_tune()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
