"""Atomic publication (SPEC 7): a reader never sees half a delivery.

Every folder of a run is written complete, with its manifest, into a staging area on the same
file system, then renamed into place. Re-running a date swaps the old folder for the new one;
since nothing in a folder depends on the time it was made, the bytes are identical.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

SCHEMA_VERSION = 1
FILE_MODE = 0o640  # personal data: owner and group only
DIR_MODE = 0o750


@dataclass
class Publication:
    exports_root: Path
    run_date: date
    _folders: dict[str, list[dict]] = field(default_factory=dict)
    _withdrawn: set[str] = field(default_factory=set)

    @property
    def staging(self) -> Path:
        return self.exports_root / f".staging-{self.run_date.isoformat()}-{os.getpid()}"

    def add(self, folder: str, name: str, data: bytes, rows: int | None) -> None:
        target = self.staging / folder / name
        self.staging.mkdir(mode=0o700, parents=True, exist_ok=True)
        target.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        _write_private(target, data)
        self._folders.setdefault(folder, []).append(
            {
                "name": name,
                "rows": rows,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )

    def withdraw(self, folder: str) -> None:
        """Remove a folder an earlier run of the same date published (an academy held back on
        a re-run): its old files must not stand as that day's delivery."""
        self._withdrawn.add(folder)

    def commit(self) -> list[Path]:
        """Write each folder's manifest, then move every folder into place."""
        published = []
        for folder, files in sorted(self._folders.items()):
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "run_date": self.run_date.isoformat(),
                "folder": folder,
                "files": sorted(files, key=lambda f: f["name"]),
            }
            path = self.staging / folder / "manifest.json"
            text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
            _write_private(path, text.encode("utf-8"))
        for folder in sorted(self._folders):
            final = self.exports_root / folder
            self._make_parents(final)
            os.chmod(self.staging / folder, DIR_MODE)
            if final.exists():
                old = final.with_name(f".{final.name}.old-{os.getpid()}")
                os.replace(final, old)
                os.replace(self.staging / folder, final)
                shutil.rmtree(old)
            else:
                os.replace(self.staging / folder, final)
            published.append(final)
        for folder in sorted(self._withdrawn - set(self._folders)):
            final = self.exports_root / folder
            if final.exists():
                old = final.with_name(f".{final.name}.old-{os.getpid()}")
                os.replace(final, old)
                shutil.rmtree(old)
        shutil.rmtree(self.staging, ignore_errors=True)
        return published

    def _make_parents(self, final: Path) -> None:
        """Create the folders above `final` owner-and-group only, like the folders themselves
        (`schools/<URN>/` names a school; nobody else needs to list it)."""
        rel = final.parent.relative_to(self.exports_root)
        current = self.exports_root
        for part in rel.parts:
            current = current / part
            current.mkdir(mode=DIR_MODE, exist_ok=True)
            os.chmod(current, DIR_MODE)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file that is never readable by others, not even for a moment."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, FILE_MODE)
