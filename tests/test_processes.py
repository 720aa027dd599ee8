"""The daily run's worker processes (attendance/processes.py)."""

from __future__ import annotations

import gc

from attendance.processes import YOUNG_GENERATION_THRESHOLD, worker_pool


def test_workers_collect_garbage_as_batch_work_wants():
    """Each worker freezes what it imported and collects young objects every 100,000
    allocations, not 700 (the priority-list workbooks spent a fifth of their CPU in the
    collector); this process is left as it was."""
    before = gc.get_threshold()
    with worker_pool(1, preload=["attendance.processes"]) as pool:
        threshold = pool.submit(gc.get_threshold).result()
        frozen = pool.submit(gc.get_freeze_count).result()
    assert threshold == (YOUNG_GENERATION_THRESHOLD, 50, 100)
    assert frozen > 1000  # the interpreter's and the preloaded modules' objects
    assert gc.get_threshold() == before
