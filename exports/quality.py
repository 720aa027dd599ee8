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

import logging
import os
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from attendance.calendar import SchoolCalendar, academic_year_start
from attendance.config import Trust
from attendance.home import Home
from ingestion.files import PATTERNS
from ingestion.read_cache import LedgerIndex, StampedCache, cache_path
from ingestion.reasons import reason_codes

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


def _ledger(ledger: LedgerIndex, urn: str, run_date: date) -> list[dict]:
    entries = []
    for key in ledger.delivery_keys():
        try:
            entry = ledger.entry(key)
        except (OSError, ValueError):
            log.warning("academy %s: unreadable ledger entry %s.json", urn, key)
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


def _rejected_rows(file: str) -> dict | None:
    """One issues file's rejected rows as [reason, extraction date (ISO) or None], whatever D,
    with `undated` when the file has no extraction time (every row counts then); None when
    the file lacks the columns. Reads only the three columns it needs with pyarrow: the
    trust's thousands of small issue files made pandas' per-file overhead the export's largest
    cost. OSError or ValueError when unreadable. JSON-ready: the read cache keeps it."""
    parquet = pq.ParquetFile(file)
    names = set(parquet.schema_arrow.names)
    if not {"status", "reason"} <= names:
        return None
    if not _may_hold(parquet, "status", "rejected"):
        return {"undated": False, "rows": []}
    wanted = ["status", "reason"] + (["extracted_at"] if "extracted_at" in names else [])
    table = parquet.read(columns=wanted)
    when_type = table.schema.field("extracted_at").type if "extracted_at" in wanted else None
    plain = all(pa.types.is_string(table.schema.field(c).type) for c in ("status", "reason"))
    if not plain or (
        when_type is not None and not (pa.types.is_timestamp(when_type) and when_type.tz is None)
    ):
        # Anything but text and a naive timestamp: the pandas reading, which defines the rules.
        frame = table.to_pandas()
        rejected = frame[frame["status"] == "rejected"]
        reasons = [None if pd.isna(r) else r for r in rejected["reason"].tolist()]
        if when_type is None:
            return {"undated": True, "rows": [[r, None] for r in reasons]}
        when = pd.to_datetime(rejected["extracted_at"]).dt.date
        days = [None if pd.isna(d) else d.isoformat() for d in when]
        return {"undated": False, "rows": [list(pair) for pair in zip(reasons, days, strict=True)]}
    rejected = pc.fill_null(pc.equal(table["status"], "rejected"), False)
    reasons = table["reason"].filter(rejected).to_pylist()
    if when_type is None:
        return {"undated": True, "rows": [[r, None] for r in reasons]}
    # a naive timestamp's date: the day it was extracted
    days = pc.cast(table["extracted_at"].filter(rejected), pa.date32()).to_pylist()
    dated = [[r, None if d is None else d.isoformat()] for r, d in zip(reasons, days, strict=True)]
    return {"undated": False, "rows": dated}


def _issue_reasons(rows: dict, run_date: date) -> list[object]:
    """The reasons of the rejected rows extracted on or before D (every one when undated)."""
    if rows["undated"]:
        return [reason for reason, _ in rows["rows"]]
    d = run_date.isoformat()
    return [reason for reason, day in rows["rows"] if day is not None and day <= d]


# Rejections in roll snapshots are named as such: the record counts beside the reasons are of
# register marks, and "the UPN appears more than once" (say) means something else in a roll.
ROLL_PREFIX = "pupil roll: "


def _is_roll(issues_file: str) -> bool:
    """Whether an issues file (named `<delivery key>.parquet`) is a roll snapshot's."""
    stem = issues_file.removesuffix(".parquet")
    return PATTERNS["pupils"].match(f"{stem}.csv") is not None


def _rejection_reasons(home: Home, urn: str, run_date: date) -> str:
    """The most frequent reasons records or files were rejected, with counts; those from roll
    snapshots begin with ROLL_PREFIX."""
    folder = home.warehouse / "issues" / urn
    try:
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".parquet") and e.is_file())
    except FileNotFoundError:
        names = []
    cache = StampedCache(cache_path(home, urn, "issues"))
    found = []
    for name in names:
        if name.startswith("."):
            continue
        try:
            rows = cache.get(os.path.join(folder, name), _rejected_rows)
        except (OSError, ValueError):
            continue
        if rows is not None:
            reasons = _issue_reasons(rows, run_date)
            if _is_roll(name):
                reasons = [f"{ROLL_PREFIX}{r}" if isinstance(r, str) else r for r in reasons]
            found.append(reasons)
    cache.save()
    if not found:
        return ""
    reasons = pd.Series([r for rs in found for r in rs], dtype=object)
    reasons = reasons.fillna("unknown").value_counts()
    reasons = reasons.sort_index().sort_values(ascending=False, kind="stable")
    shown = [f"{reason} ({count})" for reason, count in reasons.head(REASONS_SHOWN).items()]
    rest = reasons.iloc[REASONS_SHOWN:]
    if len(rest):
        shown.append(f"and {len(rest)} other reasons ({_by_code(rest)})")
    return "; ".join(shown)


def _by_code(reasons: pd.Series) -> str:
    """Counts of reasons (text -> count) by their reason code, most first: reasons that name
    a value (a UPN's check letters, a date) are many distinct texts of one kind, and a
    trust's worth of wrong check letters must not hide as 'and 77 other reasons'."""
    texts = [str(r) for r in reasons.index]
    plain = pd.Series([t.removeprefix(ROLL_PREFIX) for t in texts], dtype=object)
    codes = [
        f"{ROLL_PREFIX}{code}" if text.startswith(ROLL_PREFIX) else code
        for text, code in zip(texts, reason_codes(plain).fillna("unknown"), strict=True)
    ]
    totals = pd.Series(reasons.to_numpy(), index=codes).groupby(level=0).sum()
    totals = totals.sort_index().sort_values(ascending=False, kind="stable")
    return ", ".join(f"{code}: {count}" for code, count in totals.items())


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
        ledger = LedgerIndex(home, academy.urn)
        entries = _ledger(ledger, academy.urn, run_date)
        ledger.save()
        loaded = [e for e in entries if e.get("status") == "loaded"]
        delivered_days = {str(e.get("extracted_at"))[:10] for e in loaded}
        rejected = [e for e in entries if e.get("status") == "rejected"]
        rejected_days = {str(e.get("extracted_at"))[:10] for e in rejected}
        arrived = run_date.isoformat() in delivered_days
        # A school day's delivery is expected that evening: a school day with no delivery
        # loaded from an extraction on it (or later the same day) is without one, and late
        # when a later delivery did load. A day whose delivery came and was rejected whole is
        # not late: the school sent it on time and the file needs fixing, not chasing; it
        # counts in deliveries_rejected and its reasons (SPEC 8: late is a delivery that has
        # not arrived).
        school_days = []
        if calendars and academy.urn in calendars:
            school_days = [
                d for d in calendars[academy.urn].school_days if year_start <= d <= run_date
            ]
        without = [d for d in school_days if d.isoformat() not in delivered_days]
        late = sum(
            1
            for d in without
            if d.isoformat() not in rejected_days
            and any(str(e.get("extracted_at"))[:10] > d.isoformat() for e in loaded)
        )
        rejected_records = sum(int(e.get("records_rejected") or 0) for e in loaded)
        rejected_files = len(rejected)
        status = "ok"
        if rejected_records or rejected_files:
            status = "errors"
        if not arrived and run_date.isoformat() not in rejected_days:
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
