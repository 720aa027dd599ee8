"""The daily run's worker processes (attendance/processes.py)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import yaml

from attendance.heavy_imports import collector_paused, great_expectations, gx_context
from attendance.home import Home
from attendance.pipeline import gatekeeper, ingests_in_workers
from attendance.processes import YOUNG_GENERATION_THRESHOLD, worker_pool
from exports.build import school_pool
from tests.builders import write_config


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


_SERVER_SCRIPT = """
import sys
from attendance.processes import start_worker_server, worker_pool

if __name__ == "__main__":
    if sys.argv[1] == "early":
        start_worker_server(["colorsys"])
    with worker_pool(1, preload=[]) as pool:
        in_worker = pool.submit(eval, "'colorsys' in __import__('sys').modules").result()
    print(in_worker, "colorsys" in sys.modules)
"""


def test_a_server_started_early_is_the_one_pools_fork_from(tmp_path):
    """run_day starts the workers' server first thing, so that it imports while the run reads
    its configuration; the pools made later fork from it, with what it preloaded (here a
    module nothing else imports), and the caller itself imports nothing of it."""
    script = tmp_path / "server.py"
    script.write_text(_SERVER_SCRIPT)
    root = Path(__file__).resolve().parents[1]

    def run(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, str(script), mode],
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip()

    assert run("early") == "True False"
    assert run("late") == "False False"  # the pool's own server preloads nothing


def test_the_workers_server_is_started_only_for_a_trust_that_ingests_in_workers(
    tmp_path, monkeypatch
):
    """run_day starts the server when the academies will ingest in worker processes: not for
    a one-academy trust (it ingests in the run's own process), nor when one worker is asked
    for; for two academies and two workers it does."""
    monkeypatch.setenv("ATTENDANCE_INGEST_WORKERS", "2")
    one, two = tmp_path / "one", tmp_path / "two"
    write_config(one)
    write_config(two)
    trust_file = two / "config" / "trust.yml"
    trust = yaml.safe_load(trust_file.read_text())
    trust["academies"].append({**trust["academies"][0], "urn": "140002", "laestab": "9312002"})
    trust_file.write_text(yaml.safe_dump(trust, sort_keys=False))

    assert not ingests_in_workers(Home(one))
    assert ingests_in_workers(Home(two))
    monkeypatch.setenv("ATTENDANCE_INGEST_WORKERS", "1")
    assert not ingests_in_workers(Home(two))


def test_heavy_imports_pause_the_collector_and_restore_it():
    """GX and dbt are imported with the cyclic collector paused (attendance/heavy_imports.py);
    afterwards it is as it was, enabled or not, also when the block raises."""
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    try:
        with collector_paused():
            raise KeyError("x")
    except KeyError:
        pass
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # a caller that paused it keeps it paused
    finally:
        gc.enable()


def test_gx_contexts_come_ready_and_leave_the_collector_on():
    context = gx_context()
    assert gc.isenabled()
    assert context.variables.progress_bars.globally is False
    assert great_expectations().__name__ == "great_expectations"
    assert os.environ["GX_ANALYTICS_ENABLED"] == "False"


def test_the_gatekeeper_collects_garbage_as_batch_work_wants():
    """The daily run's gatekeeper (GX's validations, the year's ledger read for the report)
    is tuned like the schools' workers; this process is left as it was."""
    before = gc.get_threshold()
    with gatekeeper() as keeper:
        assert keeper.submit(gc.get_threshold).result() == (YOUNG_GENERATION_THRESHOLD, 50, 100)
        assert keeper.submit(gc.get_freeze_count).result() > 1000
    assert gc.get_threshold() == before


DEFERRED_CHECK = """
import sys
import tests.test_gate as export_gate
import tests.test_ingestion_fastpaths as ingestion_gate

# Both of the project's GX gates, for real: the export gate (one validation of every
# academy, and each alone), whose first use imports GX, and the ingestion gate (batched and
# one by one).
export_gate.test_one_validation_of_every_academy_gives_each_academys_own_outcomes()
ingestion_gate.test_batched_gate_names_examples_past_the_200_failures_gx_lists()
print([m in sys.modules for m in ("scipy.stats", "altair")])

# The module that imported them holds stand-ins that load on use; any other import gets the
# real module, the same one, and a submodule once.
from great_expectations.expectations.core import expect_column_kl_divergence_to_be_less_than as kl
import scipy.stats._stats_py
from scipy import stats
print(type(kl.stats).__name__, kl.stats.entropy is stats.entropy,
      stats.ttest_ind is scipy.stats._stats_py.ttest_ind, float(kl.stats.entropy([1, 3], [1, 3])),
      kl.alt.Chart is sys.modules["altair"].Chart)
"""


def test_gx_imports_without_the_modules_only_unused_expectations_need():
    """GX imports scipy's statistics and altair for an expectation this project never uses
    (a third of its import): they are deferred (attendance/heavy_imports.py). A fresh
    interpreter runs both real gates without importing them; afterwards code that uses them
    gets the real modules."""
    done = subprocess.run(
        [sys.executable, "-c", DEFERRED_CHECK],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [
        "[False,",
        "False]",
        "DeferredModule",
        "True",
        "True",
        "0.0",
        "True",
    ]


def test_a_deferred_module_that_is_not_installed_is_left_to_pythons_own_error():
    from attendance.heavy_imports import deferred

    with deferred(("no_such_module_here", "no_such_package_here.sub")):
        assert "no_such_module_here" not in sys.modules
        assert "no_such_package_here.sub" not in sys.modules
