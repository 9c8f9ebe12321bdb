"""The GC threshold is raised while a service runs and restored when the last one stops."""

from __future__ import annotations

import gc

from service.bootstrap import GC_GEN0_THRESHOLD, gc_tuned


def test_the_young_generation_threshold_is_raised_until_the_last_service_stops() -> None:
    """Two overlapping services: raised while either runs, the previous threshold after both."""
    before = gc.get_threshold()
    with gc_tuned():
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:])
        with gc_tuned():
            assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
        assert gc.get_threshold()[0] == GC_GEN0_THRESHOLD
    assert gc.get_threshold() == before
