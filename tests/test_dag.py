"""The attendance_daily DAG: it imports, its graph has the right shape, and a real
`airflow dags test` run on a generated trust delivers numbers that agree with an independent
calculation from the generator's ground truth."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from attendance.dbt_manifest import ensure_manifest
from attendance.home import REPO_ROOT
from tests.independent import year_to_date

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory, monkeypatch_module):
    ensure_manifest()
    monkeypatch_module.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_parse")))
    monkeypatch_module.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags"))


def test_dag_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "attendance_daily" in dagbag.dags


def test_dag_structure(dagbag):
    dag = dagbag.dags["attendance_daily"]
    ids = set(dag.task_ids)
    assert {"resolve_run_date", "prepare", "ingest_academy", "export"} <= ids
    dbt_tasks = {t for t in ids if t.startswith("marts.")}
    assert "marts.mart_pupil_status_run" in dbt_tasks
    assert "marts.fct_pupil_stage_daily_run" in dbt_tasks
    ingest = dag.get_task("ingest_academy")
    assert {"resolve_run_date", "prepare"} <= ingest.upstream_task_ids
    # every dbt root waits for ingestion; export waits for the last dbt task
    roots = [t for t in dbt_tasks if not (dag.get_task(t).upstream_task_ids & dbt_tasks)]
    assert roots and all("ingest_academy" in dag.get_task(t).upstream_task_ids for t in roots)
    export = dag.get_task("export")
    assert export.upstream_task_ids & dbt_tasks
    # everything that writes DuckDB shares the one-slot pool
    assert all(dag.get_task(t).pool == "duckdb_writer" for t in dbt_tasks)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from attendance.generate import generate_trust

    root = tmp_path_factory.mktemp("dag_home")
    truth = root.parent / "dag_truth.parquet"
    generate_trust(
        root,
        academies=2,
        pupils=300,
        start=date(2025, 9, 1),
        end=date(2025, 10, 10),
        seed=7,
        truth_path=truth,
    )
    return root, truth


@pytest.mark.e2e
def test_airflow_dags_test_run_matches_independent_calculation(generated, tmp_path):
    root, truth_path = generated
    run_date = date(2025, 10, 10)
    env = dict(os.environ)
    env.update(
        {
            "ATTENDANCE_HOME": str(root),
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
    )
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [AIRFLOW, "pools", "set", "duckdb_writer", "1", "DuckDB writer"],
        env=env,
        check=True,
        capture_output=True,
    )
    proc = subprocess.run(
        [
            AIRFLOW,
            "dags",
            "test",
            "attendance_daily",
            "2025-10-13T05:30:00+00:00",
            "--conf",
            json.dumps({"run_date": run_date.isoformat()}),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "state=failed" not in proc.stdout + proc.stderr

    expected = year_to_date(pd.read_parquet(truth_path), run_date)
    expected = expected.set_index(["urn", "upn"])
    d = run_date.isoformat()
    la_files = sorted((root / "exports" / "la").glob(f"*/{d}/pupil_attendance_*_{d}.csv"))
    assert la_files
    checked = 0
    for path in la_files:
        with path.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                exp = expected.loc[(row["urn"], row["upn"])]
                assert int(row["possible_sessions"]) == exp["possible"]
                assert int(row["attended_sessions"]) == exp["attended"]
                assert int(row["authorised_absence_sessions"]) == exp["authorised"]
                assert int(row["unauthorised_absence_sessions"]) == exp["unauthorised"]
                pa = exp["possible"] > 0 and exp["absence"] * 10 >= exp["possible"]
                assert row["persistent_absentee"] == ("Y" if pa else "N")
                if exp["possible"]:
                    pct = round(100 * exp["attended"] / exp["possible"] + 1e-9, 1)
                    assert abs(float(row["attendance_pct"]) - pct) < 0.051
                checked += 1
    assert checked > 200
    # the DfE share for D holds every mark dated D known on D
    dfe = sorted((root / "exports" / "dfe" / d).glob("*.csv"))
    assert len(dfe) == 2
    manifest = json.loads((root / "exports" / "dfe" / d / "manifest.json").read_text())
    assert {f["name"] for f in manifest["files"]} == {p.name for p in dfe}
