"""attendance_daily: the trust's daily attendance job (SPEC 8).

due (skip a morning with nothing new) -> resolve the run date -> prepare (registry, calendar)
-> ingest each academy (mapped, in parallel, labelled "URN name"; parquet only, no DuckDB) -> the
dbt marts through cosmos (the single DuckDB writer, serialised by a one-slot pool) -> the quality
gate (GX Core; read-only; holds back a late or failing academy and says why) -> export and
publish the rest (outlets: one Asset per kind of output, for data-aware downstream DAGs).

Failures retry with exponential backoff, then `attendance.alerts.notify_failure` posts to the
configured webhook. Re-running one academy for one date: clear its mapped `ingest_academy`
instance with "downstream" ticked (docs/runbook.md).

Nothing heavy is imported at the top level: the scheduler parses this file often.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from attendance.alerts import notify_failure
from attendance.home import Home

REPO = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO / "dbt_project"
DUCKDB_POOL = "duckdb_writer"
RUN_DATE = "{{ ti.xcom_pull(task_ids='resolve_run_date') }}"

# The published outputs as Assets (SPEC 7), so a downstream DAG can be scheduled on them.
_EXPORTS = Home.resolve().exports
OUTPUTS = [
    Asset(name=f"attendance_{kind}", uri=(_EXPORTS / folder).as_uri(), group="attendance")
    for kind, folder in [
        ("dfe_share", "dfe"),
        ("la_share", "la"),
        ("priority_lists", "schools"),
        ("trust_summary", "trust"),
    ]
]


def _home():
    from attendance.home import Home

    return Home.resolve()


@dag(
    dag_id="attendance_daily",
    description="Ingest every academy's registers, build the DfE measures, deliver the shares",
    schedule=CronTriggerTimetable("30 5 * * 1-5", timezone="Europe/London"),
    start_date=pendulum.datetime(2025, 9, 1, tz="Europe/London"),
    catchup=False,
    max_active_runs=1,
    default_args={
        # ATTENDANCE_TASK_RETRIES=0 makes a local `airflow dags test` fail fast.
        "retries": int(os.environ.get("ATTENDANCE_TASK_RETRIES", "2")),
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "on_failure_callback": notify_failure,
    },
    params={
        "run_date": Param(
            None,
            type=["null", "string"],
            description="Run date D (YYYY-MM-DD); default: the previous school day",
        )
    },
    tags=["attendance"],
)
def attendance_daily():
    def _run_day(context):
        """The calendar day the run stands for, in London: its logical date (a scheduled or
        backfill run), else when it was due to run (a manual run without a logical date)."""
        when = context.get("logical_date") or context["dag_run"].run_after
        return pendulum.instance(when).in_timezone("Europe/London").date()

    @task.short_circuit
    def due() -> bool:
        """Skip (not fail) a scheduled morning with no school day to process; a run asked for
        a run_date always goes ahead."""
        from attendance.pipeline import run_due

        context = get_current_context()
        if (context["params"] or {}).get("run_date"):
            return True
        return run_due(_home(), _run_day(context))

    @task
    def resolve_run_date() -> str:
        """The run date D: the one asked for, else the school day before the run."""
        from datetime import date

        from attendance.pipeline import default_run_date

        context = get_current_context()
        asked = (context["params"] or {}).get("run_date")
        if asked:
            return date.fromisoformat(asked).isoformat()
        return default_run_date(_home(), _run_day(context)).isoformat()

    @task
    def prepare() -> list[str]:
        from attendance.pipeline import prepare as prepare_home

        return prepare_home(_home())

    @task(map_index_template="{{ academy_label }}")
    def ingest_academy(urn: str, run_date: str) -> dict:
        from datetime import date

        from attendance.config import load_trust
        from attendance.pipeline import ingest

        home = _home()
        context = get_current_context()
        context["academy_label"] = f"{urn} {load_trust(home).academy(urn).name}"
        return ingest(home, urn, date.fromisoformat(run_date))

    marts = DbtTaskGroup(
        group_id="marts",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT,
            manifest_path=DBT_PROJECT / "target" / "manifest.json",
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="attendance",
            target_name="embedded",
            profiles_yml_filepath=DBT_PROJECT / "profiles.yml",
        ),
        execution_config=ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_ALL,
            # unit tests check the models' logic, not the day's data: the test suite runs
            # them, the daily build does not (attendance/pipeline.py, PRODUCTION_BUILD)
            exclude=["resource_type:unit_test"],
        ),
        operator_args={"vars": {"run_date": RUN_DATE}, "pool": DUCKDB_POOL, "install_deps": False},
    )

    @task
    def quality_gate(run_date: str) -> dict[str, str]:
        """URN -> why that academy is held back for D (late delivery, or a GX expectation
        failed at error severity). Reads the marts read-only, so it needs no pool slot."""
        from datetime import date

        from attendance.pipeline import gate

        held_back = gate(_home(), date.fromisoformat(run_date))
        for urn, reason in sorted(held_back.items()):
            print(f"held back {urn}: {reason}")
        return held_back

    @task(outlets=OUTPUTS)
    def export(run_date: str, held_back: dict[str, str]) -> dict:
        from datetime import date

        from attendance.pipeline import export as export_all

        result = export_all(_home(), date.fromisoformat(run_date), held_back=held_back)
        return {k: v for k, v in result.items() if k != "summary"}

    run_date = resolve_run_date()
    urns = prepare()
    due() >> [run_date, urns]
    ingested = ingest_academy.partial(run_date=run_date).expand(urn=urns)
    verdicts = quality_gate(run_date)
    ingested >> marts >> verdicts
    export(run_date, verdicts)


attendance_daily()
