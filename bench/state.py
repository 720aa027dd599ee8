"""The warehouse as it stood after ingesting every delivery extracted up to a day, rebuilt from a
full run's warehouse instead of by ingesting again.

Ingestion is per delivery and deterministic (each delivery's outputs depend only on it and on
the rolls extracted before it, and are named by its key, which carries its extraction time), so
the outputs of the deliveries extracted on or before `up_to` are exactly what ingesting up to
`up_to` writes. Files are hard-linked: ingestion only ever replaces files by rename, never
writes into one, so the full run's copy cannot change under the linked one.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import date
from pathlib import Path

from attendance.calendar import load_calendars
from attendance.config import load_trust
from attendance.home import Home
from exports.quality import quality_facts

STAMP = re.compile(r"_(\d{8})T\d{6}")
PER_DELIVERY = ("marks", "rolls", "issues", "ledger")


def _extracted_by(name: str, cutoff: str) -> bool:
    found = STAMP.search(name)
    return found is not None and found.group(1) <= cutoff


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def ingested_up_to(full: Path, dest: Path, up_to: date) -> int:
    """Give `dest` (a fresh home) the ingestion outputs of `full` for deliveries extracted on or
    before `up_to`; return how many files were linked."""
    cutoff = up_to.strftime("%Y%m%d")
    linked = 0
    for kind in PER_DELIVERY:
        for src in sorted((full / "warehouse" / kind).glob("*/*")):
            if _extracted_by(src.name, cutoff):
                _link(src, dest / "warehouse" / kind / src.parent.name / src.name)
                linked += 1
    for src in sorted((full / "quarantine").glob("*/*/*")):
        if _extracted_by(src.parent.name, cutoff):
            _link(src, dest / "quarantine" / src.parent.parent.name / src.parent.name / src.name)
            linked += 1
    # What the previous day's run would have left beside the ledger and the issues: the read
    # cache of what it read (ingestion/read_cache.py), so the timed run reads them as a daily
    # run does, not the year's files again. That day's data-quality facts read them all.
    home = Home(dest)
    trust = load_trust(home)
    quality_facts(home, trust, up_to, load_calendars(home, trust))
    return linked
