"""The daily run's worker processes: one way to start them, tuned for the work they do."""

from __future__ import annotations

import gc
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

# Young collections wait for this many new container objects (Python's default: 700).
YOUNG_GENERATION_THRESHOLD = 100_000


def tune_gc_for_batch_work() -> None:
    """Python's cyclic garbage collector, set for a worker that makes many short-lived objects
    and then exits: the processes that make the schools' priority-list workbooks (openpyxl's
    cells, styles and element trees), and a daily run's gatekeeper (GX's validations, and the
    year's ledger entries read for the data-quality report: 0.78-1.07 -> 0.33-0.62 CPU-s for
    those at M, four runs a side).

    A collection of the oldest generation walks every live object, the imported libraries'
    hundreds of thousands included, and at the default thresholds (young objects collected
    every 700 allocations) it ran often enough to cost a tenth to a fifth of the workbooks'
    CPU. Here the objects alive at start (the imports) are frozen out of collections and
    young collections wait for 100,000 allocations: 25 schools' files, alternating runs,
    3.6-4.95 CPU-s at the defaults and 3.2-4.4 tuned, peak resident size 239 MB against 243.
    Reference counting still frees at once everything not in a cycle.

    Not used for ingestion's workers, where it measured no gain (one academy's year, three
    alternating runs a side; a daily run's 50 academies in one process, 5.1-6.9 CPU-s tuned
    against 5.7-7.2 at the defaults, six runs a side) and where a frame held in a reference
    cycle would wait longer for the collector, at the full rebuild's memory peak; nor in the
    main process, where dbt's build gained nothing (four alternating daily runs a side)."""
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, 50, 100)


def worker_pool(
    workers: int, preload: list[str], initializer: Callable[[], None] | None = None
) -> ProcessPoolExecutor:
    """`workers` fresh processes, with `preload` imported once in the server they fork from,
    each running `initializer` first.

    forkserver, not fork: the caller may hold dbt's threads and DuckDB handles (backfill runs
    dbt in this process, the exports run after it), which a plain fork would copy mid-flight.
    A server already started keeps the modules it preloaded first."""
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=_server(preload), initializer=initializer
    )


def start_worker_server(preload: list[str]) -> None:
    """Start the server `worker_pool` forks from now, in the background, with `preload`
    imported in it (nothing when it is already running).

    The server is a fresh interpreter: importing pandas, pyarrow and the ingestion modules
    takes it about half a second, and the first pool's first worker waits for that. Started
    at the top of a daily run, it imports while the run reads its configuration, and the
    ingestion pool finds it ready."""
    from multiprocessing import forkserver

    _server(preload)
    forkserver.ensure_running()


def _server(preload: list[str]) -> multiprocessing.context.BaseContext:
    """The forkserver context, with `preload` for a server not yet started."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return context
