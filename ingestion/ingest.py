"""Ingest one academy's landing folder: the unit of work mapped per academy in the DAG.

Academies never touch each other's outputs (each writes only below its own URN), and no
DuckDB connection is opened here, so any number of academies can ingest at once while the
warehouse keeps its single writer (dbt).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from attendance.calendar import SchoolCalendar, load_calendars
from attendance.config import Academy, load_trust
from attendance.home import Home
from ingestion import store
from ingestion.errors import FileRejected
from ingestion.files import Delivery, discover
from ingestion.formats import PARSERS
from ingestion.formats.api_json import pages_problem
from ingestion.quality_gate import run_gate
from ingestion.reasons import reason_code, reason_codes
from ingestion.rolls import parse_roll
from ingestion.validate import check_marks

log = logging.getLogger(__name__)


@dataclass
class AcademyIngestReport:
    urn: str
    deliveries_seen: int = 0
    deliveries_loaded: int = 0
    deliveries_skipped: int = 0  # already ingested, unchanged
    deliveries_rejected: int = 0
    deliveries_waiting: int = 0
    records_loaded: int = 0
    records_rejected: int = 0
    records_missing: int = 0
    warnings: int = 0
    gate_failures: int = 0  # deliveries whose quality gate failed at error severity
    unrecognised_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _ledger_path(home: Home, delivery: Delivery) -> Path:
    return home.ledger_dir / delivery.urn / f"{delivery.key}.json"


def unrecognised_path(home: Home, urn: str) -> Path:
    """Files in the landing folder that fit no naming rule (kept for the data-quality report)."""
    return home.warehouse / "unrecognised" / f"{urn}.json"


def _gate_path(home: Home, delivery: Delivery) -> Path:
    return home.warehouse / "gate" / delivery.urn / f"{delivery.key}.json"


def _gate(home: Home, delivery: Delivery, frame: pd.DataFrame, report: AcademyIngestReport) -> dict:
    """Run the GX gate on one parsed delivery, keep the full result, return the summary."""
    result = run_gate(delivery.kind, frame, delivery.urn, delivery.extracted_at, delivery.key)
    store.write_json(result, _gate_path(home, delivery))
    if not result["passed"]:
        report.gate_failures += 1
    return {"passed": result["passed"], **result["summary"]}


def clear_stale_temporaries(home: Home, urn: str) -> int:
    """Remove the half-written temporaries a killed run left below this academy's folders.

    They are never read (every reader looks for finished names only), but they are clutter, and
    only this academy's ingestion writes here, so anything left is from a dead run."""
    removed = 0
    roots = [
        home.marks_dir,
        home.rolls_dir,
        home.warehouse / "issues",
        home.warehouse / "gate",
        home.ledger_dir,
        home.quarantine,
    ]
    for root in roots:
        folder = root / urn
        if not folder.exists():
            continue
        for tmp in folder.rglob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _fingerprint(delivery: Delivery) -> list[dict]:
    return [
        {"name": p.name, "sha256": store.sha256_file(p), "bytes": p.stat().st_size}
        for p in delivery.files
    ]


def _already_done(home: Home, delivery: Delivery, files: list[dict]) -> bool:
    path = _ledger_path(home, delivery)
    if not path.exists():
        return False
    entry = store.read_json(path)
    return entry.get("status") in {"loaded", "rejected"} and entry.get("files") == files


def _latest_roll(rolls: pd.DataFrame, when: datetime) -> pd.DataFrame | None:
    if rolls.empty:
        return None
    known = rolls[rolls["extracted_at"] <= pd.Timestamp(when)]
    if known.empty:
        return None
    latest = known["extracted_at"].max()
    return known[known["extracted_at"] == latest]


def _load_rolls(home: Home, urn: str) -> pd.DataFrame:
    folder = home.rolls_dir / urn
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    if not files:
        return pd.DataFrame()
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _roll_gate_frame(good: pd.DataFrame, bad: pd.DataFrame, academy: Academy) -> pd.DataFrame:
    frame = good[["upn", "date_of_birth", "nc_year", "entry_date", "leaving_date"]].copy()
    frame["status"] = "loaded"
    rejected = pd.DataFrame({"upn": bad["upn"].to_numpy(), "status": "rejected"})
    frame = pd.concat([frame, rejected], ignore_index=True) if len(rejected) else frame
    frame["urn"] = academy.urn
    return frame


def _quarantine_file(home: Home, delivery: Delivery, reason: str, line: int | None) -> None:
    folder = home.quarantine / delivery.urn / delivery.key
    for path in delivery.files:
        store.copy_file(path, folder / path.name)
    store.write_json(
        {
            "delivery": delivery.key,
            "files": [p.name for p in delivery.files],
            "rejected": "whole delivery",
            "line": line,
            "reason": reason,
            "reason_code": reason_code(f"whole delivery rejected: {reason}"),
        },
        folder / "reason.json",
    )


def _quarantine_records(home: Home, delivery: Delivery, issues: pd.DataFrame) -> None:
    folder = home.quarantine / delivery.urn / delivery.key
    rejected = issues[issues["status"] == "rejected"]
    if rejected.empty:
        return
    store.write_text(rejected.to_csv(index=False, lineterminator="\n"), folder / "rejected.csv")
    store.write_json(
        {
            "delivery": delivery.key,
            "files": [p.name for p in delivery.files],
            "rejected": "records",
            "records": int(len(rejected)),
            "reasons": rejected["reason"].value_counts().sort_index().to_dict(),
            "reason_codes": reason_codes(rejected["reason"]).value_counts().sort_index().to_dict(),
        },
        folder / "reason.json",
    )


def _issue_frame(delivery: Delivery, issues: pd.DataFrame) -> pd.DataFrame:
    out = issues.copy()
    out["urn"] = delivery.urn
    out["delivery"] = delivery.key
    out["extracted_at"] = delivery.extracted_at
    out["reason_code"] = reason_codes(out["reason"]) if len(out) else None
    for col in store.ISSUES_SCHEMA.names:
        if col not in out:
            out[col] = None
    return out[store.ISSUES_SCHEMA.names]


def apply_code_map(parsed: pd.DataFrame, academy: Academy) -> pd.DataFrame:
    """Local MIS codes to DfE codes, per the academy's `code_map`; the code as the export
    wrote it is kept in `source_code`."""
    out = parsed.copy()
    out["source_code"] = out["code"]
    if academy.code_map:
        out["code"] = out["code"].map(lambda c: academy.code_map.get(c, c))
    return out


def ingest_delivery(
    home: Home,
    academy: Academy,
    calendar: SchoolCalendar,
    delivery: Delivery,
    rolls: pd.DataFrame,
    report: AcademyIngestReport,
    files: list[dict],
) -> pd.DataFrame:
    """Process one delivery; returns the academy's rolls (updated if this was a roll)."""
    ledger = {
        "urn": academy.urn,
        "delivery": delivery.key,
        "kind": delivery.kind,
        "extracted_at": delivery.extracted_at.isoformat(),
        "files": files,
    }
    if delivery.kind == "api_json":
        waiting = pages_problem(delivery)
        if waiting:
            report.deliveries_waiting += 1
            store.write_json(
                {**ledger, "status": "waiting", "reason": waiting}, _ledger_path(home, delivery)
            )
            return rolls
    issues_path = home.warehouse / "issues" / academy.urn / f"{delivery.key}.parquet"
    try:
        if delivery.kind == "pupils":
            good, bad = parse_roll(delivery)
            good["urn"] = academy.urn
            gate = _gate(home, delivery, _roll_gate_frame(good, bad, academy), report)
            store.write_parquet(
                good[store.ROLL_SCHEMA.names],
                home.rolls_dir / academy.urn / f"{delivery.key}.parquet",
                store.ROLL_SCHEMA,
            )
            issues = bad
            loaded = len(good)
            if not rolls.empty:
                # A run killed after writing this roll re-reads it at start: replace, not add.
                rolls = rolls[rolls["source_file"] != delivery.files[0].name]
            rolls = pd.concat([rolls, good], ignore_index=True) if not rolls.empty else good
        else:
            parsed = apply_code_map(PARSERS[delivery.kind](delivery, academy), academy)
            roll = _latest_roll(rolls, delivery.extracted_at)
            checked = check_marks(parsed, academy, calendar, delivery.extracted_at, roll)
            gate_frame = parsed.drop(columns=["error"]).reset_index(drop=True)
            gate_frame["status"] = checked.status.to_numpy()
            gate_frame["urn"] = academy.urn
            gate = _gate(home, delivery, gate_frame, report)
            marks = checked.loaded.copy()
            marks["urn"] = academy.urn
            marks["delivery"] = delivery.key
            marks["extracted_at"] = delivery.extracted_at
            # Reports first, the marks dbt reads last, then the ledger: a run killed in
            # between leaves complete files that the next run rewrites identically.
            _quarantine_records(home, delivery, checked.issues)
            store.write_parquet(
                _issue_frame(delivery, checked.issues), issues_path, store.ISSUES_SCHEMA
            )
            store.write_parquet(
                marks[store.MARKS_SCHEMA.names],
                home.marks_dir / academy.urn / f"{delivery.key}.parquet",
                store.MARKS_SCHEMA,
            )
            issues = checked.issues
            loaded = len(marks)
    except FileRejected as exc:
        report.deliveries_rejected += 1
        _quarantine_file(home, delivery, exc.reason, exc.line)
        issue = pd.DataFrame(
            [
                {
                    "source_file": delivery.files[0].name,
                    "source_row": exc.line,
                    "severity": "error",
                    "status": "rejected",
                    "reason": f"whole delivery rejected: {exc.reason}",
                }
            ]
        )
        store.write_parquet(_issue_frame(delivery, issue), issues_path, store.ISSUES_SCHEMA)
        store.write_json(
            {**ledger, "status": "rejected", "reason": exc.reason, "line": exc.line},
            _ledger_path(home, delivery),
        )
        log.warning("academy %s: %s rejected: %s", academy.urn, delivery.label, exc.reason)
        return rolls
    if delivery.kind == "pupils":
        _quarantine_records(home, delivery, issues)
        store.write_parquet(_issue_frame(delivery, issues), issues_path, store.ISSUES_SCHEMA)
    counts = issues["status"].value_counts().to_dict() if not issues.empty else {}
    warnings = int((issues["severity"] == "warning").sum()) if not issues.empty else 0
    report.deliveries_loaded += 1
    report.records_loaded += loaded
    report.records_rejected += int(counts.get("rejected", 0))
    report.records_missing += int(counts.get("missing", 0))
    report.warnings += warnings
    store.write_json(
        {
            **ledger,
            "status": "loaded",
            "records_loaded": loaded,
            "records_rejected": int(counts.get("rejected", 0)),
            "records_missing": int(counts.get("missing", 0)),
            "warnings": warnings,
            "gate": gate,
        },
        _ledger_path(home, delivery),
    )
    return rolls


def ingest_academy(home: Home, urn: str, up_to: date | None = None) -> AcademyIngestReport:
    """Ingest everything new in `landing/<urn>/`, oldest extraction first.

    `up_to` limits ingestion to deliveries extracted on or before that day; the warehouse keeps
    every version, and as-of filtering happens in dbt, so this is an optimisation only.
    """
    trust = load_trust(home)
    academy = trust.academy(urn)
    calendar = load_calendars(home, trust)[urn]
    report = AcademyIngestReport(urn=urn)
    deliveries, unknown = discover(home.landing_for(urn), urn, academy.source_format)
    report.unrecognised_files = [f"{u.path.name}: {u.reason}" for u in unknown]
    clear_stale_temporaries(home, urn)
    store.write_json(
        [{"file": u.path.name, "reason": u.reason} for u in unknown],
        unrecognised_path(home, urn),
    )
    rolls = _load_rolls(home, urn)
    for delivery in deliveries:
        if up_to is not None and delivery.extracted_at.date() > up_to:
            continue
        report.deliveries_seen += 1
        files = _fingerprint(delivery)
        if _already_done(home, delivery, files):
            report.deliveries_skipped += 1
            continue
        rolls = ingest_delivery(home, academy, calendar, delivery, rolls, report, files)
    log.info("academy %s ingested: %s", urn, report.as_dict())
    return report
