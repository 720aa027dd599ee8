"""Concurrency and faults (SPEC 4, 8): academies ingest in parallel without touching each other,
and a process killed with SIGKILL in the middle of a delivery leaves nothing half-loaded; the
next run completes the work. Proof: three copies of one generated trust end identical:

- A: both academies ingested at the same time by two processes, then the daily run;
- B: one process ingesting both academies, killed (SIGKILL) while deliveries are half written
  (their marks are on disk, their gate results and ledger entries are not: the gate runs per
  batch of deliveries, here small ones), then the daily run;
and the warehouse files (parquet, ledger, gate results, quarantine), the marts and the exports
of A and B are compared, byte for byte where the format allows and by content for DuckDB.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from attendance.generate.trust import generate_trust
from attendance.home import REPO_ROOT, Home
from attendance.pipeline import prepare, run_day
from exports.warehouse import read_mart

pytestmark = pytest.mark.e2e

RUN_DATE = date(2025, 9, 12)  # a Friday in term in the generated calendar
INGEST = (
    "import sys; from datetime import date; from attendance.home import Home; "
    "from ingestion.ingest import ingest_academy; home = Home.resolve(sys.argv[1]); "
    "[ingest_academy(home, u, up_to=date.fromisoformat(sys.argv[2])) for u in sys.argv[3:]]"
)


def _spawn(home: Home, urns: list[str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "ATTENDANCE_HOME": str(home.root),
        "GX_ANALYTICS_ENABLED": "False",
        "ATTENDANCE_GATE_BATCH_ROWS": "200",  # two or three deliveries per gate batch
        # a delivery or two per check batch, so deliveries are written one after another and
        # the kill has many windows to land in (a batch of the whole year writes at once)
        "ATTENDANCE_CHECK_BATCH_ROWS": "200",
    }
    return subprocess.Popen(
        [sys.executable, "-c", INGEST, str(home.root), RUN_DATE.isoformat(), *urns],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _names(folder: Path, suffix: str) -> set[str]:
    return {p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}")} if folder.exists() else set()


def _kill_mid_delivery(home: Home, urns: list[str], deadline_s: float = 240) -> dict:
    """Run ingestion and SIGKILL it once some deliveries are done and one is half written."""
    proc = _spawn(home, urns)
    start = time.monotonic()
    caught = False
    try:
        while time.monotonic() - start < deadline_s and proc.poll() is None:
            marks = _names(home.marks_dir / urns[0], ".parquet")
            ledger = _names(home.ledger_dir / urns[0], ".json")
            if len(ledger) >= 3 and marks - ledger:
                caught = True
                break
            time.sleep(0.002)
        if proc.poll() is None:  # it may have finished first: the assertions below say so
            os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    return {"caught_mid_delivery": caught, "returncode": proc.returncode}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.suffix not in {".duckdb", ".wal"}
        and not p.relative_to(root).parts[0].startswith("dbt_")  # dbt's own logs and target
        # what each run read from the ledger, with the entries' file times: a cache
        and p.relative_to(root).parts[0] != "read_cache"
    }


def _marts(home: Home) -> dict[str, list[tuple]]:
    out = {}
    for table in ("int_marks_current", "mart_pupil_status", "mart_dfe_share"):
        frame = read_mart(home, f"select * from {table}")
        frame = frame.sort_values(list(frame.columns)).astype(str)
        out[table] = [tuple(r) for r in frame.itertuples(index=False)]
    return out


@pytest.fixture(scope="module")
def trust_copies(tmp_path_factory) -> tuple[Home, Home]:
    base = tmp_path_factory.mktemp("faults")
    generate_trust(
        base / "a", academies=2, pupils=160, start=date(2025, 9, 1), end=RUN_DATE, seed=11
    )
    shutil.copytree(base / "a", base / "b")
    return Home.resolve(base / "a"), Home.resolve(base / "b")


def test_sigkill_then_rerun_equals_parallel_uninterrupted_run(trust_copies, monkeypatch):
    a, b = trust_copies
    quiet = {"progress": lambda m: None}

    # A: both academies at once, in two processes.
    urns = prepare(a)
    procs = [_spawn(a, [u]) for u in urns]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    monkeypatch.setenv("ATTENDANCE_HOME", str(a.root))
    run_day(a, RUN_DATE, **quiet)

    # B: one process, killed in the middle of a delivery; then the ordinary daily run.
    prepare(b)
    killed = _kill_mid_delivery(b, urns)
    assert killed["returncode"] == -signal.SIGKILL
    assert killed["caught_mid_delivery"], "the kill did not land inside a delivery"
    total = len(_names(a.ledger_dir / urns[0], ".json"))
    assert len(_names(b.ledger_dir / urns[0], ".json")) < total  # really interrupted
    monkeypatch.setenv("ATTENDANCE_HOME", str(b.root))
    run_day(b, RUN_DATE, **quiet)

    wa, wb = _files(a.warehouse), _files(b.warehouse)
    assert wa.keys() == wb.keys()
    differing = [k for k in wa if wa[k] != wb[k]]
    assert differing == [], differing[:10]
    assert _files(a.quarantine) == _files(b.quarantine)
    assert not [k for k in wb if ".tmp-" in k]  # no temporaries left behind
    exports_a, exports_b = _files(a.exports), _files(b.exports)
    assert exports_a.keys() == exports_b.keys() and len(exports_a) >= 4
    assert exports_a == exports_b
    monkeypatch.setenv("ATTENDANCE_HOME", str(a.root))
    marts_a = _marts(a)
    monkeypatch.setenv("ATTENDANCE_HOME", str(b.root))
    assert _marts(b) == marts_a
    assert len(marts_a["int_marks_current"]) > 1000
