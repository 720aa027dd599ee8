"""The daily run's worker processes: one way to start them, tuned for the work they do."""

from __future__ import annotations

import gc
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

# Young collections wait for this many new container objects (Python's default: 700).
YOUNG_GENERATION_THRESHOLD = 100_000


def tune_gc_for_batch_work() -> None:
    """Python's cyclic garbage collector, set for a worker that makes many short-lived objects
    (openpyxl's cells and styles, pandas' frames, GX's validation graphs) and then exits.

    A collection of the oldest generation walks every live object, the imported libraries'
    hundreds of thousands included, and at the default thresholds it ran often enough to take
    a fifth of the CPU of making the priority-list workbooks: 25 schools' files took 4.3 to
    4.8 CPU-s, and 3.1 to 3.6 with the objects alive at start (the imports) frozen out of
    collections and young collections every 100,000 allocations instead of 700. Reference
    counting still frees everything that is not in a cycle at once; cycles wait a little
    longer, which costs megabytes, not gigabytes."""
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, 50, 100)


def worker_pool(workers: int, preload: list[str]) -> ProcessPoolExecutor:
    """`workers` fresh processes, with `preload` imported once in the server they fork from.

    forkserver, not fork: the caller may hold dbt's threads and DuckDB handles (backfill runs
    dbt in this process, the exports run after it), which a plain fork would copy mid-flight.
    A server already started keeps the modules it preloaded first."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=tune_gc_for_batch_work
    )
