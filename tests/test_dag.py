"""The attendance_daily DAG: it imports, its graph has the right shape, and real
`airflow dags test` runs on a generated trust (one Airflow database for the module): a clean run
whose numbers agree with an independent calculation from the generator's ground truth; a run
where one academy fails the quality gate and another's delivery is missing, and the third still
delivers; a failing run that alerts a webhook receiver; and the logical dates an Airflow
backfill creates, mapped to run dates."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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
    assert {"due", "resolve_run_date", "prepare", "ingest_academy", "quality_gate", "export"} <= ids
    dbt_tasks = {t for t in ids if t.startswith("marts.")}
    assert "marts.mart_pupil_status_run" in dbt_tasks
    assert "marts.fct_pupil_stage_daily_run" in dbt_tasks
    # a morning with nothing to process short-circuits everything
    assert dag.get_task("due").downstream_task_ids == {"resolve_run_date", "prepare"}
    ingest = dag.get_task("ingest_academy")
    assert {"resolve_run_date", "prepare"} <= ingest.upstream_task_ids
    assert ingest.map_index_template == "{{ academy_label }}"
    # every dbt root waits for ingestion; the gate waits for every dbt leaf; export for the gate
    roots = [t for t in dbt_tasks if not (dag.get_task(t).upstream_task_ids & dbt_tasks)]
    assert roots and all("ingest_academy" in dag.get_task(t).upstream_task_ids for t in roots)
    leaves = {t for t in dbt_tasks if not (dag.get_task(t).downstream_task_ids & dbt_tasks)}
    gate = dag.get_task("quality_gate")
    assert leaves and leaves <= gate.upstream_task_ids
    export = dag.get_task("export")
    assert export.upstream_task_ids == {"quality_gate", "resolve_run_date"}
    # everything that writes DuckDB shares the one-slot pool; the gate and export only read
    assert all(dag.get_task(t).pool == "duckdb_writer" for t in dbt_tasks)
    # the outputs are Assets a downstream DAG can be scheduled on
    assert {a.name for a in export.outlets} == {
        "attendance_dfe_share",
        "attendance_la_share",
        "attendance_priority_lists",
        "attendance_trust_summary",
    }
    assert all(a.uri.startswith("file:///") for a in export.outlets)
    # retries with backoff, then the alert
    assert ingest.retry_exponential_backoff and ingest.on_failure_callback
    assert dag.timetable.summary == "30 5 * * 1-5"


def test_due_mornings_and_run_dates_around_a_half_term(generated):
    """Each school day D is processed once, the next weekday morning (the default calendar has
    half term 27-31 Oct 2025 and INSET 14 Nov; Kingsmead's INSET is 3 Nov)."""
    from attendance.home import Home
    from attendance.pipeline import default_run_date, run_due

    home = Home(generated[0])
    expected = {
        date(2025, 9, 1): None,  # before term
        date(2025, 9, 3): None,  # first day of term: nothing before it
        date(2025, 9, 4): date(2025, 9, 3),
        date(2025, 10, 13): date(2025, 10, 10),  # Monday: Friday's registers
        date(2025, 10, 27): date(2025, 10, 24),  # first day of half term: the Friday before
        date(2025, 10, 28): None,
        date(2025, 10, 31): None,
        date(2025, 11, 3): None,  # back from half term: nothing new since the 27th
        date(2025, 11, 4): date(2025, 11, 3),  # 3 Nov: INSET at Kingsmead, school elsewhere
        date(2025, 11, 17): date(2025, 11, 14),  # 14 Nov: INSET except at Kingsmead
    }
    for today, run_date in expected.items():
        assert run_due(home, today) == (run_date is not None), today
        if run_date is not None:
            assert default_run_date(home, today) == run_date, today


URNS = ("140101", "140102", "140103")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from attendance.generate import generate_trust

    root = tmp_path_factory.mktemp("dag_home")
    truth = root.parent / "dag_truth.parquet"
    generate_trust(
        root,
        academies=3,
        pupils=300,
        start=date(2025, 9, 1),
        end=date(2025, 10, 14),
        seed=7,
        truth_path=truth,
    )
    return root, truth


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, generated):
    """One migrated Airflow SQLite database (with the writer pool) for every run here."""
    env = dict(os.environ)
    env.update(
        {
            "ATTENDANCE_HOME": str(generated[0]),
            "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow")),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "ATTENDANCE_TASK_RETRIES": "0",
        }
    )
    env.pop("ATTENDANCE_ALERT_WEBHOOK", None)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run(
        [AIRFLOW, "pools", "set", "duckdb_writer", "1", "DuckDB writer"],
        env=env,
        check=True,
        capture_output=True,
    )
    # the DAG in the database, as the dag-processor would leave it (backfill reads it there)
    subprocess.run([AIRFLOW, "dags", "reserialize"], env=env, check=True, capture_output=True)
    return env


def dags_test(env: dict, logical: str, run_date: date | None) -> subprocess.CompletedProcess:
    """`airflow dags test`; run_date None: as the scheduler would run it (no conf)."""
    conf = [] if run_date is None else ["--conf", json.dumps({"run_date": run_date.isoformat()})]
    return subprocess.run(
        [AIRFLOW, "dags", "test", "attendance_daily", logical, *conf],
        env=env,
        capture_output=True,
        text=True,
    )


def check_la_rows(root: Path, truth_path: Path, run_date: date) -> dict[str, int]:
    """Every LA row for D agrees with the independent calculation; returns rows per URN."""
    expected = year_to_date(pd.read_parquet(truth_path), run_date).set_index(["urn", "upn"])
    d = run_date.isoformat()
    la_files = sorted((root / "exports" / "la").glob(f"*/{d}/pupil_attendance_*_{d}.csv"))
    assert la_files
    per_urn: dict[str, int] = {}
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
                per_urn[row["urn"]] = per_urn.get(row["urn"], 0) + 1
    return per_urn


def academy_names(root: Path) -> dict[str, str]:
    from attendance.config import load_trust
    from attendance.home import Home

    return {a.urn: a.name for a in load_trust(Home(root)).academies}


def laestabs(root: Path) -> dict[str, str]:
    from attendance.config import load_trust
    from attendance.home import Home

    return {a.urn: a.laestab for a in load_trust(Home(root)).academies}


@pytest.mark.e2e
def test_airflow_dags_test_run_matches_independent_calculation(generated, airflow_env):
    root, truth_path = generated
    run_date = date(2025, 10, 10)
    proc = dags_test(airflow_env, "2025-10-13T05:30:00+01:00", run_date)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "state=failed" not in proc.stdout + proc.stderr

    per_urn = check_la_rows(root, truth_path, run_date)
    assert set(per_urn) == set(URNS) and sum(per_urn.values()) > 250
    # the DfE share for D: one file per academy, listed in the manifest
    d = run_date.isoformat()
    dfe = sorted((root / "exports" / "dfe" / d).glob("*.csv"))
    assert {p.name for p in dfe} == {f"{e}_attendance_{d}.csv" for e in laestabs(root).values()}
    manifest = json.loads((root / "exports" / "dfe" / d / "manifest.json").read_text())
    assert {f["name"] for f in manifest["files"]} == {p.name for p in dfe}
    gate = json.loads((root / "warehouse" / "gate" / d / f"gate_{d}.json").read_text())
    assert gate["held_back"] == {}


def corrupt_roll(root: Path, urn: str, run_date: date) -> None:
    """Simulate a fault that reached the warehouse past ingestion's checks: the academy's
    latest roll snapshot as of D gains a pupil whose UPN is 12 characters. Nothing in dbt
    tests UPN length; the gate's GX expectation must catch it."""
    from ingestion import store

    folder = root / "warehouse" / "rolls" / urn
    rolls = pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))])
    rolls = rolls[rolls["extracted_at"].dt.date <= run_date]
    latest = rolls[rolls["extracted_at"] == rolls["extracted_at"].max()].copy()
    bad = latest.iloc[[0]].copy()
    bad["upn"] = bad["upn"].str[:12]
    snapshot = pd.concat([latest, bad], ignore_index=True)
    snapshot["extracted_at"] = pd.Timestamp(f"{run_date.isoformat()} 23:59:59")
    # named as ingestion names a snapshot (by its extraction time), which stg_rolls relies on
    name = f"pupils_{run_date.strftime('%Y%m%d')}T235959.parquet"
    store.write_parquet(snapshot, folder / name, store.ROLL_SCHEMA)


@pytest.mark.e2e
def test_gate_failure_and_missing_delivery_hold_back_only_those_academies(generated, airflow_env):
    from attendance.home import Home
    from attendance.pipeline import ingest

    root, truth_path = generated
    run_date = date(2025, 10, 14)
    d = run_date.isoformat()
    failing, missing, fine = URNS
    ingest(Home(root), failing, run_date)  # idempotent: the DAG's ingest will skip it
    corrupt_roll(root, failing, run_date)
    for path in (root / "landing" / missing).glob("*_20251014T*"):
        path.unlink()  # the MIS export of the 14th never arrived

    proc = dags_test(airflow_env, "2025-10-15T05:30:00+01:00", run_date)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    gate = json.loads((root / "warehouse" / "gate" / d / f"gate_{d}.json").read_text())
    assert gate["held_back"] == {
        failing: "quality gate failed: expect_column_value_lengths_to_equal on upn (1 rows)",
        missing: f"late: no register delivery extracted on {d} has arrived",
    }
    assert gate["academies"][missing]["delivery_arrived"] is False
    assert gate["academies"][fine]["held_back"] is False
    # the third academy delivers everything; the two held back get nothing for D
    estab = laestabs(root)
    dfe = {p.name for p in (root / "exports" / "dfe" / d).glob("*.csv")}
    assert dfe == {f"{estab[fine]}_attendance_{d}.csv"}
    assert (root / "exports" / "schools" / fine / d / f"priority_list_{fine}_{d}.csv").exists()
    assert not (root / "exports" / "schools" / failing / d).exists()
    assert not (root / "exports" / "schools" / missing / d).exists()
    # LA files hold only the delivering academy's pupils, with the right numbers
    assert set(check_la_rows(root, truth_path, run_date)) == {fine}


@pytest.mark.e2e
def test_a_holiday_morning_is_skipped_not_failed(generated, airflow_env):
    """The scheduled run of Tuesday 23 December (the Christmas holidays began on the Monday):
    `due` short-circuits, every other task is skipped, the run is a success."""
    proc = dags_test(airflow_env, "2025-12-23T05:30:00+00:00", None)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Condition result is False" in out
    assert "state=success" in out and "state=failed" not in out
    assert not (generated[0] / "exports" / "trust" / "2025-12-22").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,900",
    "--virtual-time-budget=20000",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium(tmp_path: Path, *args: str, attempts: int = 3) -> subprocess.CompletedProcess:
    """Run headless chromium once, in a fresh profile; retried when it hangs.

    Headless chromium now and then never finishes a page on a loaded machine (seen in CI: a
    `--dump-dom` of the mapped-task page killed after 120 s, the same page fine on the next
    run). A hang says nothing about the Airflow UI, so it is retried with a fresh profile; a
    page that renders wrongly still fails the assertions on what it printed.
    """
    for attempt in range(1, attempts + 1):
        profile = tmp_path / f"chromium_profile_{len(list(tmp_path.iterdir()))}"
        argv = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        # its own process group, so a hang is ended with every renderer it started
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            out, err = proc.communicate(timeout=90)
            return subprocess.CompletedProcess(argv, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


@pytest.mark.e2e
def test_airflow_ui_shows_the_successful_runs(airflow_env, tmp_path):
    """The team's monitoring page: the API server on a free local port over this module's
    Airflow database, read by headless chromium. The runs page lists the runs above, all
    successful (a late or held-back academy is not a failed run); the mapped ingestion shows one
    instance per academy labelled "URN name". The runbook's screenshot (docs/airflow_ui.png) is
    refreshed with ATTENDANCE_UPDATE_SCREENSHOT=1.
    """
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    port = free_port()
    env = dict(airflow_env)
    env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"
    env["AIRFLOW__CORE__AUTH_MANAGER"] = (
        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
    )
    log = (tmp_path / "api_server.log").open("w")
    server = subprocess.Popen(
        [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/version", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "api_server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the API server did not start"
            time.sleep(1)
        page = f"{base}/dags/attendance_daily/runs"
        dom = chromium(tmp_path, "--dump-dom", page).stdout.decode("utf-8", "replace")
        shot = tmp_path / "airflow_ui.png"
        chromium(tmp_path, f"--screenshot={shot}", page)
        runs = sorted(set(re.findall(r"manual__\d{4}-\d\d-\d\dT[\d:.]+\+00:00", dom)))
        assert runs, dom[-2000:]
        # the mapped ingestion of one run: one instance per academy, labelled "URN name"
        # the first run created (ids carry the creation time): the clean run of 10 October
        mapped = f"{base}/dags/attendance_daily/runs/{runs[0]}/tasks/ingest_academy/mapped"
        mapped_dom = chromium(tmp_path, "--dump-dom", mapped).stdout.decode("utf-8", "replace")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert "attendance_daily" in dom
    assert "Success" in dom and "failed" not in dom.lower()
    for urn, name in academy_names(Path(airflow_env["ATTENDANCE_HOME"])).items():
        assert f"{urn} {name}" in mapped_dom
    assert shot.stat().st_size > 20_000
    if os.environ.get("ATTENDANCE_UPDATE_SCREENSHOT") == "1":  # refresh the runbook's picture
        shutil.copyfile(shot, REPO_ROOT / "docs" / "airflow_ui.png")


@pytest.mark.e2e
def test_backfill_logical_dates_map_to_the_right_run_dates(airflow_env):
    """`airflow backfill create` over the half term: the runs it would create, and the run date
    each stands for (resolve_run_date and due, through the same pipeline functions)."""
    from attendance.home import Home
    from attendance.pipeline import default_run_date, run_due

    proc = subprocess.run(
        [
            AIRFLOW,
            "backfill",
            "create",
            "--dag-id",
            "attendance_daily",
            "--from-date",
            "2025-10-23",
            "--to-date",
            "2025-11-05",  # a date at midnight: the 05:30 run of the 5th is after it
            "--dry-run",
        ],
        env=airflow_env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    import pendulum

    # the dry run prints a table of the logical dates it would create, in UTC
    logical = [
        pendulum.parse(m).in_timezone("Europe/London")
        for m in re.findall(r"^\| (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00)", proc.stdout, re.M)
    ]
    days = [dt.date() for dt in logical]
    assert days == [
        date(2025, 10, 23),
        date(2025, 10, 24),
        date(2025, 10, 27),
        date(2025, 10, 28),
        date(2025, 10, 29),
        date(2025, 10, 30),
        date(2025, 10, 31),
        date(2025, 11, 3),
        date(2025, 11, 4),
    ]
    # 05:30 London either side of the clocks going back on 26 October
    assert all((dt.hour, dt.minute) == (5, 30) for dt in logical)
    home = Home(Path(airflow_env["ATTENDANCE_HOME"]))
    processed = {day: default_run_date(home, day) for day in days if run_due(home, day)}
    assert processed == {
        date(2025, 10, 23): date(2025, 10, 22),
        date(2025, 10, 24): date(2025, 10, 23),
        date(2025, 10, 27): date(2025, 10, 24),
        date(2025, 11, 4): date(2025, 11, 3),
    }


@pytest.mark.e2e
def test_a_failing_task_alerts_the_webhook(airflow_env, tmp_path):
    """A real run whose prepare step fails (a broken registry) posts one alert per failed task
    to a receiver on 127.0.0.1; the message names the task and the run date."""
    from tests.test_alerts import Receiver

    home = tmp_path / "broken_home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "trust.yml").write_text("trust: Broken\nacademies: [{urn: '12'}]\n")
    receiver = Receiver()
    try:
        env = dict(airflow_env)
        env["ATTENDANCE_HOME"] = str(home)
        env["ATTENDANCE_ALERT_WEBHOOK"] = receiver.url
        proc = dags_test(env, "2025-10-16T05:30:00+01:00", date(2025, 10, 15))
    finally:
        receiver.close()
    assert "state=failed" in proc.stdout + proc.stderr or proc.returncode != 0
    bodies = [body for _, _, body in receiver.received]
    assert [b["task"] for b in bodies] == ["prepare"]
    assert bodies[0]["dag"] == "attendance_daily"
    assert bodies[0]["run_date"] == "2025-10-15"
    assert bodies[0]["error_type"] == "ConfigError"
