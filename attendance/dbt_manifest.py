"""The dbt manifest cosmos renders the DAG's dbt task group from.

Cosmos can build the graph by calling `dbt ls` while Airflow parses the DAG, but parse time
matters (the scheduler re-parses often); reading a manifest made once at setup is instant.
"""

from __future__ import annotations

import os
from pathlib import Path

from attendance.home import REPO_ROOT, Home

MANIFEST = REPO_ROOT / "dbt_project" / "target" / "manifest.json"


def ensure_manifest(force: bool = False) -> Path:
    sources = (
        sorted((REPO_ROOT / "dbt_project").rglob("*.sql"))
        + sorted((REPO_ROOT / "dbt_project").rglob("*.yml"))
        + sorted((REPO_ROOT / "dbt_project").rglob("*.py"))
        + sorted((REPO_ROOT / "dbt_project" / "seeds").glob("*.csv"))
    )
    sources = [s for s in sources if "target" not in s.parts]
    newest = max(s.stat().st_mtime for s in sources)
    if not force and MANIFEST.exists() and MANIFEST.stat().st_mtime >= newest:
        return MANIFEST
    from dbt.cli.main import dbtRunner

    os.environ.setdefault("ATTENDANCE_HOME", str(Home.resolve().root))
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    project = REPO_ROOT / "dbt_project"
    result = dbtRunner().invoke(
        ["parse", "--project-dir", str(project), "--profiles-dir", str(project), "--quiet"]
    )
    if not result.success:
        raise RuntimeError(f"dbt parse failed: {result.exception}")
    return MANIFEST
