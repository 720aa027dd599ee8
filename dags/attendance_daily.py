"""attendance_daily: the trust's daily attendance job (SPEC 8).

resolve the run date -> prepare (registry, calendar) -> ingest each academy (mapped, in
parallel; parquet only, no DuckDB) -> the dbt marts through cosmos (the single DuckDB writer,
serialised by a one-slot pool) -> export and publish.

Nothing heavy is imported at the top level: the scheduler parses this file often.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

REPO = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO / "dbt_project"
DUCKDB_POOL = "duckdb_writer"
RUN_DATE = "{{ ti.xcom_pull(task_ids='resolve_run_date') }}"


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
    @task
    def resolve_run_date() -> str:
        """The run date D: the one asked for, else the school day before the run."""
        from datetime import date

        from attendance.pipeline import default_run_date

        context = get_current_context()
        asked = (context["params"] or {}).get("run_date")
        if asked:
            return date.fromisoformat(asked).isoformat()
        today = context["logical_date"].in_timezone("Europe/London").date()
        return default_run_date(_home(), today).isoformat()

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
            load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_ALL
        ),
        operator_args={"vars": {"run_date": RUN_DATE}, "pool": DUCKDB_POOL, "install_deps": False},
    )

    @task
    def export(run_date: str) -> dict:
        from datetime import date

        from attendance.pipeline import export as export_all

        result = export_all(_home(), date.fromisoformat(run_date))
        return {k: v for k, v in result.items() if k != "summary"}

    run_date = resolve_run_date()
    urns = prepare()
    ingested = ingest_academy.partial(run_date=run_date).expand(urn=urns)
    ingested >> marts >> export(run_date)


attendance_daily()
