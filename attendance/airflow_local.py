"""The embedded Airflow: SQLite metadata in the git-ignored `.airflow/` folder of the checkout,
so `make demo` runs the real DAG with no server to start (SPEC 8, 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from attendance.home import REPO_ROOT, Home

AIRFLOW_HOME = REPO_ROOT / ".airflow"
DUCKDB_POOL = "duckdb_writer"


def airflow_env(home: Home | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(AIRFLOW_HOME))
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Europe/London",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "GX_ANALYTICS_ENABLED": "False",
            "DO_NOT_TRACK": "1",
        }
    )
    if home is not None:
        env["ATTENDANCE_HOME"] = str(home.root)
    return env


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def ensure_airflow_db() -> None:
    """Create or upgrade the SQLite metadata DB and the DuckDB writer pool (one slot)."""
    env = airflow_env()
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    marker = Path(env["AIRFLOW_HOME"]) / ".migrated"
    if not marker.exists():
        subprocess.run(
            [_airflow(), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        subprocess.run(
            [_airflow(), "pools", "set", DUCKDB_POOL, "1", "the single DuckDB writer"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        marker.touch()
