"""`api_json`: paged API extracts (SPEC 3.2), `attendance_<ts>_p<N>.json`.

A delivery is complete only when pages 1..k have all arrived and page k says `more: false`;
`pages_problem` tells the ingester whether to wait. Records are numbered within their page.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from attendance.config import Academy
from ingestion.errors import FileRejected
from ingestion.files import Delivery
from ingestion.formats.table import CANONICAL, REGISTER_DEFAULTS, clock_minutes, parse_date

SESSIONS = {"AM", "PM"}


def _load(path) -> dict[str, Any]:
    raw = path.read_bytes()
    if not raw.strip():
        raise FileRejected(f"page {path.name} is empty")
    try:
        page = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileRejected(f"page {path.name} is not valid JSON: {exc}") from exc
    if not isinstance(page, dict) or not isinstance(page.get("data"), list):
        raise FileRejected(f"page {path.name} has no 'data' list")
    return page


def _page_info(page: dict[str, Any], name: str) -> tuple[int, bool]:
    try:
        pagination = page["meta"]["pagination"]
        return int(pagination["page"]), bool(pagination["more"])
    except (KeyError, TypeError, ValueError) as exc:
        raise FileRejected(f"page {name} has no meta.pagination page/more") from exc


Page = dict[str, Any] | FileRejected


def load_pages(delivery: Delivery) -> list[Page]:
    """Each page read as JSON, or why it cannot be. Read once for both `pages_problem` and
    `parse`: decoding a page is most of reading it (a year's pages of an academy decoded
    twice cost 0.8 CPU-s)."""
    pages: list[Page] = []
    for path in delivery.files:
        try:
            pages.append(_load(path))
        except FileRejected as exc:
            pages.append(exc)
    return pages


def pages_problem(delivery: Delivery, pages: list[Page] | None = None) -> str | None:
    """Why the delivery is not complete yet (so it must wait), or None when every page is in.
    `pages`: the delivery's `load_pages`, when read already."""
    numbers = []
    last_seen = False
    for path, page in zip(delivery.files, pages or load_pages(delivery), strict=True):
        try:
            if isinstance(page, FileRejected):
                raise page
            number, more = _page_info(page, path.name)
        except FileRejected:
            return None  # unreadable pages are rejected by parse(), not waited for
        numbers.append(number)
        last_seen = last_seen or not more
    expected = list(range(1, max(numbers) + 1))
    if sorted(numbers) != expected:
        missing = sorted(set(expected) - set(numbers))
        return f"pages {', '.join(map(str, missing))} have not arrived"
    if not last_seen:
        return f"page {max(numbers)} says more pages follow, and they have not arrived"
    return None


def _minutes_to_clock(start: int, minutes: Any) -> str | None:
    if minutes is None:
        return None
    total = start + int(minutes)
    return f"{total // 60:02d}:{total % 60:02d}"


def parse(delivery: Delivery, academy: Academy, pages: list[Page] | None = None) -> pd.DataFrame:
    """The delivery's records; `pages`: its `load_pages`, when read already."""
    rows: list[dict[str, Any]] = []
    starts = {
        s: clock_minutes(academy.registers.get(k, REGISTER_DEFAULTS[k])) or 0
        for s, k in (("AM", "am_start"), ("PM", "pm_start"))
    }
    for path, page in zip(delivery.files, pages or load_pages(delivery), strict=True):
        if isinstance(page, FileRejected):
            raise page
        school = page.get("school") or {}
        urn, laestab = str(school.get("urn", "")), str(school.get("laestab", ""))
        if urn != academy.urn or laestab != academy.laestab:
            raise FileRejected(
                f"page {path.name} is for URN {urn or '?'} / LAESTAB {laestab or '?'}, not "
                f"{academy.urn} / {academy.laestab} ({academy.name}) whose folder it is in"
            )
        for index, record in enumerate(page["data"], start=1):
            rows.append(_record(record, index, path.name, starts))
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CANONICAL})
    out = pd.DataFrame(rows)
    out["minutes_late"] = out["minutes_late"].astype("Int64")
    return out[CANONICAL]


def _record(record: Any, index: int, name: str, starts: dict[str, int]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "upn": "",
        "mark_date": None,
        "session": None,
        "code": "",
        "minutes_late": None,
        "arrival_time": None,
        "source_file": name,
        "source_row": index,
        "error": None,
    }
    try:
        row["upn"] = str(record["student"]["upn"]).strip().upper()
        row["code"] = str(record["attendance_code"]["code"]).strip()
        session = str(record["session"]).strip().upper()
        day = str(record["date"]["date"])[:10]
    except (KeyError, TypeError) as exc:
        row["error"] = f"record is missing {exc}"
        return row
    row["mark_date"] = parse_date(day, "%Y-%m-%d")  # cached: a page holds a few dates
    if row["mark_date"] is None:
        row["error"] = "date.date is not a YYYY-MM-DD date"
    if session in SESSIONS:
        row["session"] = session
    else:
        row["error"] = row["error"] or "session must be AM or PM"
    late = record.get("minutes_late")
    if late is not None:
        if isinstance(late, bool) or not isinstance(late, int | float) or late < 0 or late % 1:
            row["error"] = row["error"] or "minutes_late must be null or a whole number"
        else:
            row["minutes_late"] = int(late)
            if row["session"]:
                row["arrival_time"] = _minutes_to_clock(starts[row["session"]], late)
    return row
