"""The data-quality report for one academy (SPEC 4 quarantine, SPEC 7.5), written for the
school's attendance officer: which file, which line, what was wrong, what to do.

It reads only what ingestion left behind (ledger, issues parquet, gate results, unrecognised
files), as known on a date: deliveries extracted on or before `up_to`. The exports step
publishes it; this module only builds the rows and the markdown, deterministically (sorted,
no clocks), so a re-run of a date gives the same bytes.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd

from attendance.config import load_trust
from attendance.home import Home
from ingestion.reasons import action_for, reason_codes

ISSUE_COLUMNS = [
    "delivery",
    "file",
    "line",
    "severity",
    "status",
    "reason_code",
    "what_was_wrong",
    "what_to_do",
    "upn",
    "mark_date",
    "session",
    "code",
]
DELIVERY_COLUMNS = [
    "delivery",
    "kind",
    "extracted_at",
    "files",
    "status",
    "records_loaded",
    "records_rejected",
    "records_missing",
    "warnings",
    "gate",
    "reason",
]
MAX_ROWS_SHOWN = 200  # per section of the markdown; the rows function returns them all


def _known(extracted_at: str, up_to: date | None) -> bool:
    return up_to is None or date.fromisoformat(extracted_at[:10]) <= up_to


def delivery_rows(home: Home, urn: str, up_to: date | None = None) -> pd.DataFrame:
    """One row per delivery in the ledger: what happened to it."""
    folder = home.ledger_dir / urn
    rows = []
    for path in sorted(folder.glob("*.json")) if folder.exists() else []:
        entry = json.loads(path.read_text(encoding="utf-8"))
        if not _known(entry["extracted_at"], up_to):
            continue
        gate = entry.get("gate")
        if gate is None:
            gate_text = ""
        elif gate["passed"] and not gate["failed_warnings"]:
            gate_text = "passed"
        else:
            failed = [*gate["failed_errors"], *gate["failed_warnings"]]
            gate_text = ("failed: " if not gate["passed"] else "warnings: ") + "; ".join(failed)
        rows.append(
            {
                "delivery": entry["delivery"],
                "kind": entry["kind"],
                "extracted_at": entry["extracted_at"],
                "files": ", ".join(f["name"] for f in entry.get("files", [])),
                "status": entry["status"],
                "records_loaded": int(entry.get("records_loaded", 0)),
                "records_rejected": int(entry.get("records_rejected", 0)),
                "records_missing": int(entry.get("records_missing", 0)),
                "warnings": int(entry.get("warnings", 0)),
                "gate": gate_text,
                "reason": entry.get("reason") or "",
            }
        )
    frame = pd.DataFrame(rows, columns=DELIVERY_COLUMNS)
    return frame.sort_values(["extracted_at", "delivery"], kind="stable").reset_index(drop=True)


def issue_rows(home: Home, urn: str, up_to: date | None = None) -> pd.DataFrame:
    """Every reported problem of the academy: rejected and missing records, warnings, and
    whole files rejected; each with the action to take."""
    folder = home.warehouse / "issues" / urn
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    frames = [pd.read_parquet(f) for f in files]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=ISSUE_COLUMNS)
    issues = pd.concat(frames, ignore_index=True)
    if up_to is not None:
        issues = issues[issues["extracted_at"].dt.date <= up_to]
    codes = issues["reason_code"] if "reason_code" in issues else reason_codes(issues["reason"])
    codes = codes.where(codes.notna(), reason_codes(issues["reason"]))
    out = pd.DataFrame(
        {
            "delivery": issues["delivery"],
            "file": issues["source_file"],
            "line": issues["source_row"].astype("Int64"),
            "severity": issues["severity"],
            "status": issues["status"],
            "reason_code": codes,
            "what_was_wrong": issues["reason"],
            "what_to_do": codes.map(action_for),
            "upn": issues["upn"],
            "mark_date": issues["mark_date"],
            "session": issues["session"],
            "code": issues["code"],
        }
    )
    order = {"error": 0, "warning": 1}
    out["_severity"] = out["severity"].map(order).fillna(2)
    out = out.sort_values(["_severity", "delivery", "file", "line", "session"], kind="stable")
    return out.drop(columns="_severity").reset_index(drop=True)[ISSUE_COLUMNS]


def unrecognised_rows(home: Home, urn: str) -> pd.DataFrame:
    path = home.warehouse / "unrecognised" / f"{urn}.json"
    rows = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    return pd.DataFrame(rows, columns=["file", "reason"])


def gate_rows(home: Home, urn: str, up_to: date | None = None) -> pd.DataFrame:
    """Failed quality-gate checks, one row per delivery and check."""
    ledger = delivery_rows(home, urn, up_to)
    rows = []
    for name in ledger["delivery"]:
        path: Path = home.warehouse / "gate" / urn / f"{name}.json"
        if not path.exists():
            continue
        result = json.loads(path.read_text(encoding="utf-8"))
        for r in result["results"]:
            if not r["success"]:
                rows.append(
                    {
                        "delivery": name,
                        "check": r["check"],
                        "severity": r["severity"],
                        "unexpected_count": r["unexpected_count"],
                        "element_count": r["element_count"],
                        "examples": ", ".join(map(str, r["examples"])),
                    }
                )
    return pd.DataFrame(
        rows,
        columns=["delivery", "check", "severity", "unexpected_count", "element_count", "examples"],
    )


def _cell(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(frame: pd.DataFrame, columns: dict[str, str]) -> list[str]:
    shown = frame.head(MAX_ROWS_SHOWN)
    lines = [
        "| " + " | ".join(columns.values()) + " |",
        "|" + "---|" * len(columns),
    ]
    for _, row in shown.iterrows():
        lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
    if len(frame) > len(shown):
        lines.append(f"\n...and {len(frame) - len(shown)} more (see the CSV of issues).")
    return lines


def academy_markdown(home: Home, urn: str, up_to: date | None = None) -> str:
    """The report as markdown: a summary, then each kind of problem with what to do."""
    academy = load_trust(home).academy(urn)
    deliveries = delivery_rows(home, urn, up_to)
    issues = issue_rows(home, urn, up_to)
    gate = gate_rows(home, urn, up_to)
    unknown = unrecognised_rows(home, urn)
    when = f" as of {up_to.isoformat()}" if up_to else ""
    status = deliveries["status"]
    out = [
        f"# Data quality: {academy.name} (URN {academy.urn}){when}",
        "",
        f"- Deliveries received: {len(deliveries)} ({int((status == 'loaded').sum())} loaded, "
        f"{int((status == 'rejected').sum())} rejected whole, "
        f"{int((status == 'waiting').sum())} waiting for pages)",
        f"- Records loaded: {int(deliveries['records_loaded'].sum())}",
        f"- Records rejected: {int(deliveries['records_rejected'].sum())}",
        f"- Missing marks: {int(deliveries['records_missing'].sum())}",
        f"- Warnings (records kept): {int(deliveries['warnings'].sum())}",
        f"- Quality gate: {len(gate)} failed check(s) "
        f"({int((gate['severity'] == 'error').sum())} at error severity)",
        "",
    ]
    whole = deliveries[deliveries["status"] == "rejected"]
    if len(whole):
        lines = issues[issues["what_was_wrong"].str.startswith("whole delivery rejected")]
        out += ["## Files rejected whole (nothing from them was loaded)", ""]
        out += _table(
            lines,
            {"file": "file", "line": "line", "what_was_wrong": "what was wrong",
             "what_to_do": "what to do"},
        )  # fmt: skip
        out.append("")
    waiting = deliveries[deliveries["status"] == "waiting"]
    if len(waiting):
        out += ["## Deliveries waiting for missing pages", ""]
        waiting = waiting.assign(what_to_do=action_for("pages_missing"))
        out += _table(
            waiting,
            {"delivery": "delivery", "files": "pages received", "reason": "what is missing",
             "what_to_do": "what to do"},
        )  # fmt: skip
        out.append("")
    record_columns = {
        "file": "file",
        "line": "line",
        "upn": "UPN",
        "mark_date": "date",
        "session": "session",
        "code": "code",
        "what_was_wrong": "what was wrong",
        "what_to_do": "what to do",
    }
    records = issues[~issues["what_was_wrong"].str.startswith("whole delivery rejected")]
    for title, status_value in (
        ("Records rejected (not loaded)", "rejected"),
        ("Missing marks", "missing"),
        ("Warnings (records loaded, please check)", "loaded"),
    ):
        part = records[records["status"] == status_value]
        if len(part):
            out += [f"## {title}", ""] + _table(part, record_columns) + [""]
    if len(gate):
        out += ["## Quality gate checks that failed", ""]
        out += _table(
            gate,
            {"delivery": "delivery", "check": "check", "severity": "severity",
             "unexpected_count": "records failing", "examples": "examples"},
        )  # fmt: skip
        out.append("")
    if len(unknown):
        out += ["## Files not recognised (not read)", ""]
        unknown = unknown.assign(what_to_do=action_for("file_name"))
        out += _table(unknown, {"file": "file", "reason": "why", "what_to_do": "what to do"})
        out.append("")
    if out[-1] != "":
        out.append("")
    if len(out) and not len(issues) and not len(gate) and not len(unknown):
        out += ["No problems found.", ""]
    return "\n".join(out)
