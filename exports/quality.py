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
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
HELD_BACK_EXPORTS = "DfE share, LA share, priority list"


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


def _may_hold(parquet: pq.ParquetFile, column: str, value: str) -> bool:
    """Whether the column may hold `value`, by the min and max every row group records: most
    issue files hold only loaded and missing marks, and this skips reading them at all."""
    meta = parquet.metadata
    paths = [meta.schema.column(i).path for i in range(meta.num_columns)]
    if column not in paths:
        return True
    index = paths.index(column)
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max or not isinstance(stats.max, str):
            return True
        if stats.min <= value <= stats.max:
            return True
    return False


def _issue_reasons(path: Path, run_date: date) -> list[object] | None:
    """The reasons of one issues file's rejected rows extracted on or before D; None when the
    file is unreadable or lacks the columns. Reads only the three columns it needs with pyarrow:
    the trust's thousands of small issue files made pandas' per-file overhead the export's
    largest cost."""
    try:
        parquet = pq.ParquetFile(path)
        names = set(parquet.schema_arrow.names)
        if not {"status", "reason"} <= names:
            return None
        if not _may_hold(parquet, "status", "rejected"):
            return []
        wanted = ["status", "reason"] + (["extracted_at"] if "extracted_at" in names else [])
        table = parquet.read(columns=wanted)
    except (OSError, ValueError):
        return None
    when_type = table.schema.field("extracted_at").type if "extracted_at" in wanted else None
    plain = all(pa.types.is_string(table.schema.field(c).type) for c in ("status", "reason"))
    if not plain or (
        when_type is not None and not (pa.types.is_timestamp(when_type) and when_type.tz is None)
    ):
        # Anything but text and a naive timestamp: the pandas reading, which defines the rules.
        frame = table.to_pandas()
        if when_type is None:
            return list(frame.loc[frame["status"] == "rejected", "reason"])
        when = pd.to_datetime(frame["extracted_at"]).dt.date
        frame = frame[when <= run_date]
        return list(frame.loc[frame["status"] == "rejected", "reason"])
    rejected = pc.equal(table["status"], "rejected")
    if when_type is not None:
        # a naive timestamp's date is on or before D exactly when it is before D + 1 at midnight
        end = pa.scalar(datetime.combine(run_date + timedelta(days=1), time()), when_type)
        rejected = pc.and_(rejected, pc.less(table["extracted_at"], end))
    return table["reason"].filter(pc.fill_null(rejected, False)).to_pylist()


def _rejection_reasons(home: Home, urn: str, run_date: date) -> str:
    """The most frequent reasons records or files were rejected, with counts."""
    folder = home.warehouse / "issues" / urn
    paths = sorted(folder.glob("*.parquet")) if folder.exists() else []
    found = [r for r in (_issue_reasons(path, run_date) for path in paths) if r is not None]
    if not found:
        return ""
    reasons = pd.Series([r for rs in found for r in rs], dtype=object)
    reasons = reasons.fillna("unknown").value_counts()
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
    facts: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The data-quality report's rows for D: `quality_facts` (or `facts`, the same computed
    earlier) with the gate's verdicts applied."""
    if facts is None:
        facts = quality_facts(home, trust, run_date, calendars)
    return with_verdicts(facts, held_back or {})


def with_verdicts(facts: pd.DataFrame, held_back: dict[str, str]) -> pd.DataFrame:
    """The facts with which academies' exports were held back, and why; a held-back academy's
    status says so whatever its data."""
    out = facts.copy()
    reason = [held_back.get(urn, "") for urn in out["urn"]]
    held = np.array([bool(r) for r in reason], dtype=bool)
    out["held_back_reason"] = pd.Series(reason, index=out.index, dtype=object)
    out["exports_held_back"] = [HELD_BACK_EXPORTS if h else "" for h in held]
    out.loc[held, "data_quality_status"] = "held back"
    return out[COLUMNS]


def quality_facts(
    home: Home,
    trust: Trust,
    run_date: date,
    calendars: dict[str, SchoolCalendar] | None = None,
) -> pd.DataFrame:
    """Everything in the report that comes from what ingestion recorded (the ledger and the
    issues), before the gate's verdicts. It reads the year's ledger and issue files, and
    nothing the dbt build writes, so the daily run computes it beside the build
    (`attendance/pipeline.py`, `build_and_gate`)."""
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
                "exports_held_back": "",
                "held_back_reason": "",
                "data_quality_status": status,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
