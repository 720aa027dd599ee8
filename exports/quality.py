"""The data-quality picture per academy (SPEC 7.5): deliveries received, records loaded and
rejected, missing marks, warnings, and whether the delivery for D arrived."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from attendance.config import Trust
from attendance.home import Home

COLUMNS = [
    "urn",
    "academy_name",
    "deliveries_received",
    "deliveries_rejected",
    "deliveries_waiting",
    "records_loaded",
    "records_rejected",
    "missing_marks",
    "warnings",
    "delivery_for_run_date",
    "data_quality_status",
]


def quality_rows(home: Home, trust: Trust, run_date: date) -> pd.DataFrame:
    rows = []
    for academy in trust.academies:
        entries = []
        folder = home.ledger_dir / academy.urn
        for path in sorted(folder.glob("*.json")) if folder.exists() else []:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry["kind"] == "pupils":
                continue
            if date.fromisoformat(entry["extracted_at"][:10]) <= run_date:
                entries.append(entry)
        loaded = [e for e in entries if e["status"] == "loaded"]
        arrived = any(
            e["extracted_at"][:10] == run_date.isoformat() and e["status"] == "loaded"
            for e in entries
        )
        rejected_records = sum(e.get("records_rejected", 0) for e in loaded)
        rejected_files = sum(1 for e in entries if e["status"] == "rejected")
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
                "deliveries_waiting": sum(1 for e in entries if e["status"] == "waiting"),
                "records_loaded": sum(e.get("records_loaded", 0) for e in loaded),
                "records_rejected": rejected_records,
                "missing_marks": sum(e.get("records_missing", 0) for e in loaded),
                "warnings": sum(e.get("warnings", 0) for e in loaded),
                "delivery_for_run_date": "Y" if arrived else "N",
                "data_quality_status": status,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)
