"""Running the dbt project in-process for a run date (the CLI path; the DAG uses cosmos)."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from attendance.home import REPO_ROOT, Home

DBT_PROJECT = REPO_ROOT / "dbt_project"


class DbtFailed(RuntimeError):
    pass


def dbt_env(home: Home) -> dict[str, str]:
    """Environment dbt needs: where the home is; no telemetry."""
    return {
        "ATTENDANCE_HOME": str(home.root),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }


def dbt_vars(run_date: date) -> str:
    return json.dumps({"run_date": run_date.isoformat()})


def run_dbt(home: Home, command: str, run_date: date, extra: list[str] | None = None) -> None:
    """Invoke dbt (`build`, `parse`, ...) in this process and raise if anything failed."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(home))
    args = [
        command,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target_path(home)),
        "--log-path",
        str(home.warehouse / "dbt_logs"),
        "--vars",
        dbt_vars(run_date),
        "--quiet",
        *(extra or []),
    ]
    try:
        result = dbtRunner().invoke(args)
    finally:
        _release_duckdb()
    if not result.success:
        raise DbtFailed(f"dbt {command} failed for {run_date}: {result.exception or 'see dbt log'}")


def target_path(home: Home) -> Path:
    """Compiled artefacts per home, so two homes (tests, demo) never share a target folder."""
    return home.warehouse / "dbt_target"


def _release_duckdb() -> None:
    from exports.warehouse import release_dbt_handle

    release_dbt_handle()
