"""What each academy's ledger said when last read, so a run need not read the year's entries.

Every run asks the ledger, delivery by delivery, whether each landing file was already
ingested. Reading one small JSON entry per delivery cost about 80 microseconds; over a year
that is 200 entries an academy, 10,000 at a 50-academy trust and 60,000 at local-authority
scale, read again every day: the one part of a daily ingestion that grew with the year.

The index is a cache, never a source of truth. It keeps each entry as read together with the
entry file's size and modification time (ns), and gives an entry back only while the file on
disk still has that size and time; any other entry is read from its file again. Ledger
entries are only ever written by rename (`store.write_json`), so a rewritten entry has a new
time and is re-read, a deleted one is missing and counts as not ingested, and a lost or
damaged index only costs one run the reads it saves. It lives beside the ledger, not in it
(`warehouse/ledger_index/<urn>/index.json`): the ledger's own readers list its folders.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from attendance.home import Home
from ingestion import store


def index_path(home: Home, urn: str) -> Path:
    return home.ledger_index_dir / urn / "index.json"


class LedgerIndex:
    """One academy's ledger entries, read through the index (one instance per run)."""

    def __init__(self, home: Home, urn: str) -> None:
        self.folder = os.fspath(home.ledger_dir / urn)
        self.path = index_path(home, urn)
        self.cached: dict[str, dict[str, Any]] = {}
        try:
            loaded = json.loads(self.path.read_bytes())
            if isinstance(loaded, dict):
                self.cached = loaded
        except (OSError, ValueError):
            pass  # no index yet, or a damaged one: every entry is read from its file
        self.seen: dict[str, dict[str, Any]] = {}

    def entry(self, key: str) -> dict[str, Any]:
        """The ledger entry of a delivery ({} when there is none)."""
        file = f"{self.folder}/{key}.json"
        try:
            st = os.stat(file)
        except FileNotFoundError:
            return {}
        stamp = [st.st_size, st.st_mtime_ns]
        known = self.cached.get(key)
        if known is not None and known.get("stamp") == stamp:
            self.seen[key] = known
            return known["entry"]
        try:
            entry = store.read_json(Path(file))
        except FileNotFoundError:
            return {}
        self.seen[key] = {"stamp": stamp, "entry": entry}
        return entry

    def save(self) -> None:
        """Keep the entries this run read (entries of deliveries no longer landed drop out).
        Written only when it differs from the index read, by rename."""
        if self.seen != self.cached:
            text = json.dumps(self.seen, sort_keys=True, separators=(",", ":"))
            store.write_text(text, self.path)


def index_ledger(home: Home, urn: str) -> int:
    """Read every ledger entry of the academy into its index now; return how many. For a home
    whose ledger was put together without a run (a restore, the benchmark's warehouse as it
    stood on a past day), so the next run finds the index a daily run would have left."""
    index = LedgerIndex(home, urn)
    for path in sorted(Path(index.folder).glob("*.json")):
        index.entry(path.stem)
    index.save()
    return len(index.seen)
