"""The daily run's worker processes (attendance/processes.py)."""

from __future__ import annotations

import gc

from attendance.processes import YOUNG_GENERATION_THRESHOLD, worker_pool
from exports.build import school_pool


def test_school_workers_collect_garbage_as_batch_work_wants(monkeypatch):
    """Each process making schools' files freezes what it imported and collects young objects
    every 100,000 allocations, not 700 (the workbooks spent a tenth to a fifth of their CPU in
    the collector); this process is left as it was."""
    monkeypatch.setenv("ATTENDANCE_EXPORT_WORKERS", "2")  # a pool even on one CPU
    before = gc.get_threshold()
    with school_pool(schools=20) as pool:
        assert pool is not None
        threshold = pool.submit(gc.get_threshold).result()
        frozen = pool.submit(gc.get_freeze_count).result()
    assert threshold == (YOUNG_GENERATION_THRESHOLD, 50, 100)
    assert frozen > 1000  # the interpreter's and the preloaded modules' objects
    assert gc.get_threshold() == before


def test_other_workers_keep_the_default_collector():
    with worker_pool(1, preload=["attendance.processes"]) as pool:
        assert pool.submit(gc.get_threshold).result() == gc.get_threshold()
        assert pool.submit(gc.get_freeze_count).result() == 0
