"""What the files ingestion wrote said when last read, so a daily run need not read the year's.

Every run asks the ledger, delivery by delivery, whether each landing file was already
ingested, and the data-quality report (exports/quality.py) reads every ledger entry and issues
file of the year again. One small JSON entry took about 80 microseconds to read, one issues
file's footer about 100: over a year, 200 of each an academy, 10,000 at a 50-academy trust and
60,000 at local-authority scale, read again every day, the parts of a daily run that grew
with the year (on M by July, 1.4 CPU-seconds of the report's facts, computed beside the dbt
build on a machine with two cores).

A cache, never a source of truth. Each value is kept with the size, modification time (ns) and
inode of the file it was derived from, and served only while the file on disk still has them;
any other file is read again. Ingestion writes every such file by rename (`ingestion/store.py`),
so a rewritten file is a new inode with a new time and is read again, a deleted one is
missing, and a lost or damaged cache only costs one run the reads it saves. It lives beside
the files, not among them (`warehouse/read_cache/<urn>/<name>.json`): their own readers list
those folders.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attendance.home import Home
from ingestion import store


class StampedCache:
    """Values derived from the files of one folder, by file name (one instance per run)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cached: dict[str, dict[str, Any]] = {}
        try:
            loaded = json.loads(path.read_bytes())
            if isinstance(loaded, dict):
                self.cached = loaded
        except (OSError, ValueError):
            pass  # no cache yet, or a damaged one: every value is derived again
        self.seen: dict[str, dict[str, Any]] = {}

    def get(self, file: str, derive: Callable[[str], Any]) -> Any:
        """`derive(file)`, or the value it gave when the file had its present size, time and
        inode. FileNotFoundError when the file is missing; whatever `derive` raises, uncached."""
        st = os.stat(file)
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        name = os.path.basename(file)
        known = self.cached.get(name)
        if known is not None and known.get("stamp") == stamp:
            self.seen[name] = known
            return known["value"]
        value = derive(file)
        self.seen[name] = {"stamp": stamp, "value": value}
        return value

    def save(self) -> None:
        """Keep the values this run used (files no longer asked for drop out). Written only
        when it differs from the cache read, by rename."""
        if self.seen != self.cached:
            try:
                text = json.dumps(self.seen, sort_keys=True, separators=(",", ":"))
            except (TypeError, ValueError):
                return  # a value JSON cannot hold: not cached, derived again next run
            store.write_text(text, self.path)


def cache_path(home: Home, urn: str, name: str) -> Path:
    return home.read_cache_dir / urn / f"{name}.json"


class LedgerIndex:
    """One academy's ledger entries, read through its cache."""

    def __init__(self, home: Home, urn: str) -> None:
        self.folder = os.fspath(home.ledger_dir / urn)
        self.cache = StampedCache(cache_path(home, urn, "ledger"))

    def entry(self, key: str) -> dict[str, Any]:
        """The ledger entry of a delivery ({} when there is none); ValueError if unreadable."""
        try:
            return self.cache.get(f"{self.folder}/{key}.json", _read_json)
        except FileNotFoundError:
            return {}

    def delivery_keys(self) -> list[str]:
        """The deliveries with a ledger entry, in name order."""
        try:
            with os.scandir(self.folder) as found:
                names = [e.name for e in found if e.name.endswith(".json") and e.is_file()]
        except FileNotFoundError:
            return []
        return sorted(n[: -len(".json")] for n in names if not n.startswith("."))

    def save(self) -> None:
        self.cache.save()


def _read_json(file: str) -> Any:
    return store.read_json(Path(file))
