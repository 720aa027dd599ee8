"""The home folder: one deployment's configuration, landing area, warehouse and exports (SPEC 9).

Every path the platform touches is derived here, so that the CLI, the DAG and the tests agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO_ROOT / "home"


@dataclass(frozen=True)
class Home:
    root: Path

    @classmethod
    def resolve(cls, path: str | os.PathLike[str] | None = None) -> Home:
        """The explicit path, else $ATTENDANCE_HOME, else the git-ignored checkout `home/`."""
        chosen = path or os.environ.get("ATTENDANCE_HOME") or DEFAULT_HOME
        return cls(Path(chosen).expanduser().resolve())

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def duckdb_path(self) -> Path:
        return self.warehouse / "attendance.duckdb"

    @property
    def marks_dir(self) -> Path:
        """Canonical marks: one parquet file per accepted delivery, per academy."""
        return self.warehouse / "marks"

    @property
    def rolls_dir(self) -> Path:
        return self.warehouse / "rolls"

    @property
    def ledger_dir(self) -> Path:
        """One JSON record per processed landing file: what was done with it and why."""
        return self.warehouse / "ledger"

    @property
    def read_cache_dir(self) -> Path:
        """What the ledger and issue files said when last read (ingestion/read_cache.py)."""
        return self.warehouse / "read_cache"

    def landing_for(self, urn: str) -> Path:
        return self.landing / urn

    def ensure(self) -> None:
        for p in (self.config, self.landing, self.quarantine, self.warehouse, self.exports):
            p.mkdir(parents=True, exist_ok=True)
