"""What has landed: find delivery files in an academy's folder and group them into deliveries.

A delivery's extraction time is in its file name (`_<YYYYMMDDTHHMMSS>` before the extension,
SPEC 3); API deliveries come as numbered pages and are complete only when every page up to
the one saying `more: false` has arrived.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# One pattern per kind of file; the format tag says which parser reads it.
PATTERNS = {
    "pupils": re.compile(r"^pupils_(?P<ts>\d{8}T\d{6})\.csv$"),
    "long_csv": re.compile(r"^registers_(?P<ts>\d{8}T\d{6})\.csv$"),
    "arbor_csv": re.compile(r"^attendance_(?P<ts>\d{8}T\d{6})\.csv$"),
    "weekly_grid_csv": re.compile(r"^weekly_(?P<ts>\d{8}T\d{6})\.csv$"),
    "api_json": re.compile(r"^attendance_(?P<ts>\d{8}T\d{6})_p(?P<page>\d+)\.json$"),
}


@dataclass(frozen=True)
class Delivery:
    """One unit of ingestion: a single file, or all pages of one API extraction."""

    urn: str
    kind: str  # pupils | long_csv | arbor_csv | weekly_grid_csv | api_json
    key: str  # stable name: the file stem, or attendance_<ts> for API pages
    extracted_at: datetime
    files: tuple[Path, ...]

    @property
    def label(self) -> str:
        return (
            self.files[0].name if len(self.files) == 1 else f"{self.key} ({len(self.files)} pages)"
        )


@dataclass(frozen=True)
class Unrecognised:
    path: Path
    reason: str


def parse_ts(ts: str) -> datetime:
    """`YYYYMMDDTHHMMSS` (the naming patterns guarantee the digits) as a datetime; ValueError
    for an impossible date or time, as strptime gave. Sliced, not strptime: a daily run parses
    every landing file's name (15,000 at M), and strptime is 20 times slower."""
    if len(ts) != 15 or ts[8] not in "Tt" or not (ts[:8] + ts[9:]).isdigit():
        raise ValueError(f"not a YYYYMMDDTHHMMSS time: {ts!r}")
    return datetime(
        int(ts[0:4]), int(ts[4:6]), int(ts[6:8]), int(ts[9:11]), int(ts[11:13]), int(ts[13:15])
    )


def discover(
    folder: Path, urn: str, source_format: str
) -> tuple[list[Delivery], list[Unrecognised]]:
    """Deliveries in `folder`, oldest extraction first; and files that fit no expected name."""
    deliveries: list[Delivery] = []
    unknown: list[Unrecognised] = []
    pages: dict[str, list[tuple[int, Path]]] = {}
    if not folder.exists():
        return deliveries, unknown
    # Names from one directory scan, sorted as strings: a Path per file, and a stat each for
    # is_file(), made listing a year's landing folder one of the costs that grew every day.
    with os.scandir(folder) as entries:
        names = sorted(e.name for e in entries if not e.name.startswith(".") and e.is_file())
    for name in names:
        path = folder / name
        if m := PATTERNS["pupils"].match(name):
            deliveries.append(Delivery(urn, "pupils", path.stem, parse_ts(m["ts"]), (path,)))
            continue
        m = PATTERNS[source_format].match(name)
        if m is None:
            unknown.append(
                Unrecognised(path, f"file name does not match the {source_format} naming rule")
            )
            continue
        try:
            when = parse_ts(m["ts"])
        except ValueError:
            unknown.append(Unrecognised(path, "the extraction time in the file name is not a date"))
            continue
        if source_format == "api_json":
            pages.setdefault(m["ts"], []).append((int(m["page"]), path))
        else:
            deliveries.append(Delivery(urn, source_format, path.stem, when, (path,)))
    for ts, found in pages.items():
        ordered = tuple(p for _, p in sorted(found))
        deliveries.append(Delivery(urn, "api_json", f"attendance_{ts}", parse_ts(ts), ordered))
    deliveries.sort(key=lambda d: (d.extracted_at, d.kind != "pupils", d.key))
    return deliveries, unknown
