"""The data-quality picture per academy (SPEC 7.5): deliveries received, records loaded and
rejected (with reasons), missing marks, late deliveries, warnings, and which exports were held
back and why.

It reads what ingestion wrote, directly: the ledger (`warehouse/ledger/<URN>/*.json`, one entry
per processed delivery) and the issues (`warehouse/issues/<URN>/*.parquet`). Both readers take
only the keys they need and ignore any others, so ingestion can add detail without breaking
this report. Only deliveries extracted on or before D count: the report for D is the same
whenever it is produced.
"""

from __future__ import annotations

import json
import logging
from datetime import date

import pandas as pd

from attendance.calendar import SchoolCalendar, academic_year_start
from attendance.config import Trust
from attendance.home import Home

log = logging.getLogger(__name__)

COLUMNS = [
    "urn",
    "academy_name",
    "deliveries_received",
    "deliveries_rejected",
    "deliveries_waiting",
    "records_loaded",
    "records_rejected",
    "rejection_reasons",
    "missing_marks",
    "warnings",
    "delivery_for_run_date",
    "late_deliveries",
    "school_days_without_delivery",
    "exports_held_back",
    "held_back_reason",
    "data_quality_status",
]
REASONS_SHOWN = 5


def _ledger(home: Home, urn: str, run_date: date) -> list[dict]:
    folder = home.ledger_dir / urn
    entries = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("academy %s: unreadable ledger entry %s", urn, path.name)
            continue
        if not isinstance(entry, dict) or entry.get("kind") == "pupils":
            continue
        extracted = str(entry.get("extracted_at") or "")[:10]
        try:
            if date.fromisoformat(extracted) <= run_date:
                entries.append(entry)
        except ValueError:
            continue
    return entries


def _rejection_reasons(home: Home, urn: str, run_date: date) -> str:
    """The most frequent reasons records or files were rejected, with counts."""
    folder = home.warehouse / "issues" / urn
    frames = []
    for path in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError):
            continue
        if not {"status", "reason"} <= set(frame.columns):
            continue
        if "extracted_at" in frame.columns:
            when = pd.to_datetime(frame["extracted_at"]).dt.date
            frame = frame[when <= run_date]
        frames.append(frame.loc[frame["status"] == "rejected", ["reason"]])
    if not frames:
        return ""
    reasons = pd.concat(frames)["reason"].fillna("unknown").value_counts()
    reasons = reasons.sort_index().sort_values(ascending=False, kind="stable")
    shown = [f"{reason} ({count})" for reason, count in reasons.head(REASONS_SHOWN).items()]
    if len(reasons) > REASONS_SHOWN:
        shown.append(f"and {len(reasons) - REASONS_SHOWN} other reasons")
    return "; ".join(shown)


def quality_rows(
    home: Home,
    trust: Trust,
    run_date: date,
    calendars: dict[str, SchoolCalendar] | None = None,
    held_back: dict[str, str] | None = None,
) -> pd.DataFrame:
    held_back = held_back or {}
    year_start = academic_year_start(run_date)
    rows = []
    for academy in trust.academies:
        entries = _ledger(home, academy.urn, run_date)
        loaded = [e for e in entries if e.get("status") == "loaded"]
        delivered_days = {str(e.get("extracted_at"))[:10] for e in loaded}
        arrived = run_date.isoformat() in delivered_days
        # A school day's delivery is expected that evening: a school day with no delivery
        # extracted on it (or later the same day) is a late (or missing) delivery.
        school_days = []
        if calendars and academy.urn in calendars:
            school_days = [
                d for d in calendars[academy.urn].school_days if year_start <= d <= run_date
            ]
        without = [d for d in school_days if d.isoformat() not in delivered_days]
        late = sum(
            1
            for d in without
            if any(str(e.get("extracted_at"))[:10] > d.isoformat() for e in loaded)
        )
        rejected_records = sum(int(e.get("records_rejected") or 0) for e in loaded)
        rejected_files = sum(1 for e in entries if e.get("status") == "rejected")
        status = "ok"
        if rejected_records or rejected_files:
            status = "errors"
        if not arrived:
            status = "late"
        reason = held_back.get(academy.urn, "")
        if reason:
            status = "held back"
        rows.append(
            {
                "urn": academy.urn,
                "academy_name": academy.name,
                "deliveries_received": len(entries),
                "deliveries_rejected": rejected_files,
                "deliveries_waiting": sum(1 for e in entries if e.get("status") == "waiting"),
                "records_loaded": sum(int(e.get("records_loaded") or 0) for e in loaded),
                "records_rejected": rejected_records,
                "rejection_reasons": _rejection_reasons(home, academy.urn, run_date),
                "missing_marks": sum(int(e.get("records_missing") or 0) for e in loaded),
                "warnings": sum(int(e.get("warnings") or 0) for e in loaded),
                "delivery_for_run_date": "Y" if arrived else "N",
                "late_deliveries": late,
                "school_days_without_delivery": len(without),
                "exports_held_back": "DfE share, LA share, priority list" if reason else "",
                "held_back_reason": reason,
                "data_quality_status": status,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
