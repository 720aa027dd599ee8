"""The two heavy libraries a run imports in-process, GX and dbt, imported with Python's cyclic
garbage collector paused.

Importing GX (it brings scipy, SQLAlchemy and altair) makes hundreds of thousands of objects,
almost none of them garbage, and the collector walks the growing heap again and again while
they are made; so does loading dbt's saved manifest. A daily run pays GX's import in its
gatekeeper process and dbt's beside ingestion, on a machine whose two cores are busy
throughout, so those CPU-seconds are the run's. Paused (alternating, 6 and 5 runs a side at
M): GX's import and context 4.43 -> 3.91 CPU-s, dbt's warm-up 3.05 -> 2.70. The collector is
restored afterwards, so the run's own work is collected as before.

Two of GX's imports are deferred as well: scipy's statistics and altair, which one GX
expectation this project never uses (the KL divergence one) imports at the top of its module,
a third of GX's import (`_DEFERRED`).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any


@contextmanager
def collector_paused() -> Iterator[None]:
    """The block runs without cyclic garbage collection (reference counting still frees what
    is not in a cycle); the collector is enabled again after it if it was before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# Modules GX imports at import time for features this project does not use: scipy's
# statistics and altair, both for `expect_column_kl_divergence_to_be_less_than` (and altair
# for GX's rendered charts). Together about a third of GX's import: fresh processes
# alternating with the code before, GX's import and context 4.67-5.51 -> 2.99-3.84 CPU-s (a
# slow hour), paid by the gatekeeper of every daily run and by each process that gates in a
# rebuild (docs/benchmarks.md).
_DEFERRED = ("scipy.stats", "altair")


class DeferredModule(ModuleType):
    """Stands in for a module while GX imports (`deferred`), and imports the real one the
    first time anything is read from it, then hands every read on to it: code that does use
    the module works as before and pays for the import then. Python's own
    `importlib.util.LazyLoader` cannot do this for GX: the import system reads the lazy
    module's `__spec__` as GX's `from scipy import stats` completes, which loads it at once
    (Python 3.11)."""

    def __getattr__(self, attribute: str) -> Any:
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_real"] = real
        return getattr(real, attribute)


@contextmanager
def deferred(names: tuple[str, ...]) -> Iterator[None]:
    """The block's imports of `names` (those not imported yet) get a `DeferredModule`.

    The stand-ins are in `sys.modules` only for the block: whatever imports one of the
    modules afterwards gets the real module by Python's own import, as if nothing had been
    deferred. Left there, a stand-in would load on any scan of the loaded modules (dbt calls
    `inspect.stack()`, which asks every module for its `__file__`), and a submodule imported
    through it would run twice (the import system reads the parent's `__path__`, which loads
    the parent and the submodule with it, then runs the submodule again)."""
    placed: dict[str, DeferredModule] = {}
    for name in names:
        if name in sys.modules:
            continue
        try:
            # found, not run (a submodule's package is imported: scipy's own is 12 ms)
            installed = importlib.util.find_spec(name) is not None
        except ImportError:
            installed = False
        if installed:  # else whoever imports it meets Python's own error, as before
            placed[name] = sys.modules[name] = DeferredModule(name)
    try:
        yield
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


def great_expectations() -> ModuleType:
    """GX with its expectations imported (once per process), telemetry off, the modules it
    imports for features this project does not use deferred (`_DEFERRED`), and no data
    fingerprint (`GX_FINGERPRINT_LIMIT`)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    with collector_paused(), deferred(_DEFERRED):
        import great_expectations as gx
        import great_expectations.expectations  # noqa: F401
        from great_expectations.execution_engine import pandas_execution_engine
    pandas_execution_engine.HASH_THRESHOLD = GX_FINGERPRINT_LIMIT
    return gx


# GX's pandas engine hashes every value of a frame it validates (an md5 over
# `pandas.util.hash_pandas_object`) into the batch's markers, `pandas_data_fingerprint`, when
# the frame takes less than `HASH_THRESHOLD` bytes (1e9 in GX 1.24). Nothing reads that marker
# here (the gates keep each check's counts and examples, not GX's batch metadata), and it cost
# about 4% of ingestion's CPU (py-spy over four M academies' year in one process: 2.7% of the
# samples, against 11.8% for the rest of GX's validation). 0: never hash.
GX_FINGERPRINT_LIMIT = 0


def gx_context() -> Any:
    """A new ephemeral GX context (no files, no telemetry) without progress bars, which would
    fill the task logs."""
    gx = great_expectations()
    with collector_paused():
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context
