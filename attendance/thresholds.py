"""The thresholds in force, read from the one place they are set (dbt_project.yml vars), so
that the words in a priority list always match the rule that raised the flag."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from attendance.home import REPO_ROOT


@lru_cache(maxsize=1)
def thresholds() -> dict[str, Any]:
    project = yaml.safe_load((REPO_ROOT / "dbt_project" / "dbt_project.yml").read_text())
    return dict(project["vars"])
