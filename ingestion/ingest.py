"""Ingest one academy's landing folder: the unit of work mapped per academy in the DAG.

Academies never touch each other's outputs (each writes only below its own URN), and no
DuckDB connection is opened here, so any number of academies can ingest at once while the
warehouse keeps its single writer (dbt). Several academies can also be staged in one call
(`stage_academies`, the daily run's groups): their records are checked together, each
academy's outputs still its own.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from attendance.calendar import SchoolCalendar, load_calendars
from attendance.config import Academy, load_trust
from attendance.home import Home
from ingestion import store
from ingestion.errors import FileRejected
from ingestion.files import PATTERNS, Delivery, discover, parse_ts
from ingestion.formats import PARSERS, TABLES, api_json
from ingestion.formats.api_json import Page, load_pages, pages_problem
from ingestion.formats.table import spread, stack_rows
from ingestion.quality_gate import GATED_COLUMNS, GateInput, gated_columns, run_gates
from ingestion.read_cache import LedgerIndex
from ingestion.reasons import reason_code, reason_codes
from ingestion.rolls import CARRIED_ROW, Parsed, carry_forward, parse_rolls
from ingestion.validate import Delivered, check_many

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


# Roll snapshots parsed in one call: a year's weekly snapshots of an academy (a few hundred
# rows each), so the call's cost is shared while memory stays small.
ROLLS_PARSED_TOGETHER = 64


def gate_batch_rows() -> int:
    """Records gated together (run_gates): $ATTENDANCE_GATE_BATCH_ROWS, else 500,000. GX costs
    about 0.1 s per batch beyond its cost per record (one M academy's 580,789 marks: 0.78 CPU-s
    in three batches of 200,000, 0.60 in two, 0.53-0.58 in one; the same results), so larger
    batches are cheaper; the bound keeps memory flat (a 500,000-record batch adds about
    30 MB to a worker) and lets a long rebuild record progress in steps."""
    return max(1, int(os.environ.get("ATTENDANCE_GATE_BATCH_ROWS", "500000")))


@dataclass
class _Pending:
    """A delivery whose outputs are written and whose gate result and ledger entry are not."""

    delivery: Delivery
    ledger: dict
    gate: GateInput


def pending_rows(pending: list[_Pending]) -> int:
    return sum(len(p.gate.frame) for p in pending)


def finish(home: Home, pending: list[_Pending], reports: dict[str, AcademyIngestReport]) -> None:
    """Gate the pending deliveries together (of one academy or many: `reports` by URN), then
    write each one's gate result and, last, its ledger entry. A run killed before this leaves
    no ledger entry for them, so the next run processes them again and rewrites the same
    outputs."""
    if not pending:
        return
    results = run_gates([p.gate for p in pending])
    for item, result in zip(pending, results, strict=True):
        store.write_json(result, _gate_path(home, item.delivery))
    for item, result in zip(pending, results, strict=True):
        if not result["passed"]:
            reports[item.delivery.urn].gate_failures += 1
        gate = {"passed": result["passed"], **result["summary"]}
        store.write_json({**item.ledger, "gate": gate}, _ledger_path(home, item.delivery))
    pending.clear()


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
        home.read_cache_dir,
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


def _content(files: list[dict]) -> list[tuple]:
    """What identifies a delivery's files: names, sizes and SHA-256 (not their times)."""
    return [(f.get("name"), f.get("sha256"), f.get("bytes")) for f in files]


def _fingerprint(delivery: Delivery, recorded: list[dict]) -> list[dict]:
    """Name, SHA-256, size and mtime of each file. A file whose size and mtime (ns) are the
    ones the ledger recorded keeps its recorded hash; any other is hashed again, so a changed
    file is still detected while a daily run no longer re-reads the whole year's landing."""
    known = {f.get("name"): f for f in recorded}
    out = []
    for path in delivery.files:
        st = path.stat()
        old = known.get(path.name, {})
        unchanged = old.get("bytes") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns
        digest = old["sha256"] if unchanged and old.get("sha256") else store.sha256_file(path)
        out.append(
            {"name": path.name, "sha256": digest, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
        )
    return out


def _check_ledger(home: Home, delivery: Delivery, ledger: LedgerIndex) -> tuple[bool, list[dict]]:
    """(already ingested with these very files, the files' fingerprint for the ledger)."""
    entry = ledger.entry(delivery.key)
    files = _fingerprint(delivery, entry.get("files") or [])
    if entry.get("status") not in {"loaded", "rejected"}:
        return False, files
    same = _content(entry.get("files") or []) == _content(files)
    if same and entry.get("files") != files:
        # Touched, not changed (a copy, a restore): remember the new times, skip the re-hash.
        store.write_json({**entry, "files": files}, _ledger_path(home, delivery))
    return same, files


class _Rolls:
    """The academy's roll snapshots, read on demand: validation needs only the latest snapshot
    extracted by each delivery's time (snapshots are full), not every snapshot of the year."""

    def __init__(self, home: Home, urn: str) -> None:
        self.folder = home.rolls_dir / urn
        self.times: dict[str, datetime] = {}
        for path in sorted(self.folder.glob("*.parquet")) if self.folder.exists() else []:
            found = PATTERNS["pupils"].match(f"{path.stem}.csv")
            if found:
                self.times[path.stem] = parse_ts(found["ts"])
        self.frames: dict[str, pd.DataFrame] = {}

    def add(self, key: str, extracted_at: datetime, frame: pd.DataFrame) -> None:
        """A snapshot just ingested (it replaces any earlier version of the same file)."""
        self.times[key] = extracted_at
        self.frames[key] = frame

    def latest(self, when: datetime) -> pd.DataFrame | None:
        known = [(t, k) for k, t in self.times.items() if t <= when]
        if not known:
            return None
        _, key = max(known)
        return self.snapshot(key)

    def before(self, when: datetime, key: str, ignore: set[str]) -> list[tuple[datetime, str]]:
        """The stored snapshots extracted before (`when`, `key`), by time then name, not
        counting the snapshots `ignore` (being ingested again: their files are stale)."""
        return [(t, k) for k, t in self.times.items() if (t, k) < (when, key) and k not in ignore]

    def snapshot(self, key: str) -> pd.DataFrame:
        if key not in self.frames:
            self.frames = {key: pd.read_parquet(self.folder / f"{key}.parquet")}
        return self.frames[key]


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


def _write_issues(frame: pd.DataFrame, path: Path) -> None:
    """The delivery's issues; none means no file (the ledger has the counts, and every reader
    globs the folder), which saves a parquet write for almost every delivery. A file left by an
    earlier version of the delivery is removed, so the folder always matches the ledger."""
    if frame.empty:
        store.remove(path)
    else:
        store.write_parquet(frame, path, store.ISSUES_SCHEMA)


def apply_code_map(parsed: pd.DataFrame, academy: Academy) -> pd.DataFrame:
    """Local MIS codes to DfE codes, per the academy's `code_map`; the code as the export
    wrote it is kept in `source_code`."""
    out = parsed.copy()
    out["source_code"] = out["code"]
    if academy.code_map:
        out["code"] = out["code"].map(lambda c: academy.code_map.get(c, c))
    return out


def _ledger_base(delivery: Delivery, files: list[dict]) -> dict:
    return {
        "urn": delivery.urn,
        "delivery": delivery.key,
        "kind": delivery.kind,
        "extracted_at": delivery.extracted_at.isoformat(),
        "files": files,
    }


def _issues_path(home: Home, delivery: Delivery) -> Path:
    return home.warehouse / "issues" / delivery.urn / f"{delivery.key}.parquet"


def _waiting(
    home: Home,
    delivery: Delivery,
    ledger: dict,
    report: AcademyIngestReport,
    pages: list[Page] | None,
) -> bool:
    """An API delivery (`pages` read) whose pages have not all arrived waits (recorded, not
    loaded)."""
    if pages is None:
        return False
    waiting = pages_problem(delivery, pages)
    if waiting:
        report.deliveries_waiting += 1
        store.write_json(
            {**ledger, "status": "waiting", "reason": waiting}, _ledger_path(home, delivery)
        )
    return bool(waiting)


def _reject(
    home: Home, delivery: Delivery, ledger: dict, exc: FileRejected, report: AcademyIngestReport
) -> None:
    """The whole delivery is quarantined with its reason; nothing of it is loaded."""
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
    _write_issues(_issue_frame(delivery, issue), _issues_path(home, delivery))
    store.write_json(
        {**ledger, "status": "rejected", "reason": exc.reason, "line": exc.line},
        _ledger_path(home, delivery),
    )
    log.warning("academy %s: %s rejected: %s", delivery.urn, delivery.label, exc.reason)


def _counts(issues: pd.DataFrame) -> tuple[int, int, int]:
    """(rejected, missing, warnings) among a delivery's issues."""
    if issues.empty:
        return 0, 0, 0
    counts = issues["status"].value_counts().to_dict()
    warnings = int((issues["severity"] == "warning").sum())
    return int(counts.get("rejected", 0)), int(counts.get("missing", 0)), warnings


def _loaded(
    delivery: Delivery,
    ledger: dict,
    counts: tuple[int, int, int],
    loaded: int,
    gate_frame: pd.DataFrame,
    report: AcademyIngestReport,
) -> _Pending:
    """Count a loaded delivery into the report; it comes back pending its gate (`finish`)."""
    rejected, missing, warnings = counts
    report.deliveries_loaded += 1
    report.records_loaded += loaded
    report.records_rejected += rejected
    report.records_missing += missing
    report.warnings += warnings
    entry = {
        **ledger,
        "status": "loaded",
        "records_loaded": loaded,
        "records_rejected": rejected,
        "records_missing": missing,
        "warnings": warnings,
    }
    gate = GateInput(delivery.kind, gate_frame, delivery.urn, delivery.extracted_at, delivery.key)
    return _Pending(delivery, entry, gate)


def ingest_roll(
    home: Home,
    academy: Academy,
    delivery: Delivery,
    parsed: Parsed,
    rolls: _Rolls,
    report: AcademyIngestReport,
    files: list[dict],
    outputs: _RollOutputs | None,
) -> _Pending | None:
    """Store one parsed roll snapshot (`parse_rolls`; added to `rolls`); it comes back pending
    its gate. `outputs`: its file's table and its gate frame (`_roll_outputs`; None for a
    snapshot rejected whole)."""
    ledger = _ledger_base(delivery, files)
    if isinstance(parsed, FileRejected):
        _reject(home, delivery, ledger, parsed, report)
        return None
    good, bad = parsed
    good["urn"] = academy.urn
    assert outputs is not None  # a readable snapshot always has them
    store.write_arrow(outputs.table, home.rolls_dir / academy.urn / f"{delivery.key}.parquet")
    rolls.add(delivery.key, delivery.extracted_at, good)
    _quarantine_records(home, delivery, bad)
    path = _issues_path(home, delivery)
    if bad.empty:
        store.remove(path)
    else:
        _write_issues(_issue_frame(delivery, bad), path)
    carried = int((bad["reason"] == CARRIED_ROW).sum()) if len(bad) else 0
    # The delivery's own records loaded: rows carried from the previous roll are not its.
    return _loaded(delivery, ledger, _counts(bad), len(good) - carried, outputs.gate, report)


# What the gate reads of a roll's valid rows (its rejected rows: the UPN alone), then status
# and URN.
ROLL_GATE_COLUMNS = [c for c in GATED_COLUMNS["pupils"] if c not in {"status", "urn"}]


@dataclass
class _RollOutputs:
    """A roll snapshot's valid rows as its parquet file holds them, and its gate frame."""

    table: pa.Table
    gate: pd.DataFrame


def _roll_outputs(
    keys: list[str], parsed: list[tuple[pd.DataFrame, pd.DataFrame]], urn: str
) -> dict[str, _RollOutputs]:
    """`_RollOutputs` of readable snapshots (by delivery key), made for all of them at once
    and cut back out: pandas' and Arrow's cost is mostly per call (98 snapshots of ~2,400
    rows: the Arrow conversion 0.62 CPU-s one by one, 0.2 together). Each gate frame is what
    the snapshot alone gives: its valid rows, then its rows rejected or repeated."""
    if not parsed:
        return {}
    goods = [good for good, _ in parsed]
    stacked = pd.concat(goods, ignore_index=True).assign(urn=urn)
    table = pa.Table.from_pandas(
        stacked[store.ROLL_SCHEMA.names], schema=store.ROLL_SCHEMA, preserve_index=False
    ).replace_schema_metadata(None)
    gate = stacked[ROLL_GATE_COLUMNS].assign(status="loaded")
    part = np.repeat(np.arange(len(parsed)), [len(good) for good in goods])
    # A row carried from the previous roll is among the valid rows already; its warning is
    # not another record.
    bads = [bad[bad["reason"] != CARRIED_ROW] for _, bad in parsed]
    if any(len(bad) for bad in bads):
        noted = pd.concat(bads)
        # A row repeated whole is in the valid rows once already: its copy is a duplicate, as
        # a repeated mark is in the marks' gate frames.
        status = np.where(noted["status"].to_numpy() == "rejected", "rejected", "duplicate")
        extra = pd.DataFrame({"upn": noted["upn"].to_numpy(), "status": status})
        gate = pd.concat([gate, extra], ignore_index=True)
        part = np.concatenate([part, np.repeat(np.arange(len(parsed)), [len(b) for b in bads])])
        order = np.argsort(part, kind="stable")  # each snapshot's valid rows, then noted
        gate, part = gate.take(order), part[order]
    gate["urn"] = urn
    cuts = np.searchsorted(part, np.arange(len(parsed) + 1))
    rows = np.cumsum([0, *(len(good) for good in goods)])
    return {
        key: _RollOutputs(
            table.slice(rows[i], len(goods[i])),
            gate.iloc[cuts[i] : cuts[i + 1]].reset_index(drop=True),
        )
        for i, key in enumerate(keys)
    }


class _RollParser:
    """The academy's roll snapshots to ingest, parsed `ROLLS_PARSED_TOGETHER` at a time
    (`parse_rolls`) as the ingestion loop reaches them, with their outputs made together
    (`_roll_outputs`)."""

    def __init__(self, deliveries: list[Delivery], urn: str, rolls: _Rolls) -> None:
        self.waiting = [d for d in deliveries if d.kind == "pupils"]
        self.urn = urn
        self.rolls = rolls
        self.parsed: dict[str, Parsed] = {}
        self.outputs: dict[str, _RollOutputs] = {}

    def take(self, delivery: Delivery) -> tuple[Parsed, _RollOutputs | None]:
        if delivery.key not in self.parsed:
            chunk = self.chunk(delivery)
            self.accept(chunk, parse_rolls(chunk))
        return self.parsed.pop(delivery.key), self.outputs.pop(delivery.key, None)

    def chunk(self, delivery: Delivery) -> list[Delivery]:
        """The snapshots parsed together from `delivery` on."""
        at = self.waiting.index(delivery)
        return self.waiting[at : at + ROLLS_PARSED_TOGETHER]

    def accept(self, chunk: list[Delivery], parsed: list[Parsed]) -> None:
        """Take in a chunk's snapshots as `parse_rolls` gave them (here, or together with
        other academies' in `_parse_first_rolls`): carried forward, their outputs made."""
        results = self._carried(chunk, parsed)
        self.parsed.update(zip((d.key for d in chunk), results, strict=True))
        readable = [
            (d.key, r)
            for d, r in zip(chunk, results, strict=True)
            if not isinstance(r, FileRejected)
        ]
        keys, readable_parsed = [k for k, _ in readable], [r for _, r in readable]
        self.outputs.update(_roll_outputs(keys, readable_parsed, self.urn))

    def _carried(self, chunk: list[Delivery], results: list[Parsed]) -> list[Parsed]:
        """The chunk's snapshots, in order, each with the rows its rejected pupils keep from
        the snapshot stored before it (`rolls.carry_forward`): a stored one, or one of the
        chunk's own already carried (they are stored only as the loop takes them)."""
        ignore = {d.key for d in chunk}
        done: dict[tuple[datetime, str], pd.DataFrame] = {}
        out: list[Parsed] = []
        for delivery, result in zip(chunk, results, strict=True):
            if isinstance(result, FileRejected):
                out.append(result)
                continue
            here = (delivery.extracted_at, delivery.key)
            noted = result[1]
            if noted.empty or not (noted["status"] == "rejected").any():
                done[here] = result[0]  # nothing to carry: the previous roll is not read
                out.append(result)
                continue
            previous = self._previous(here, ignore, done)
            good, noted = carry_forward(*result, previous, delivery.extracted_at)
            done[here] = good
            out.append((good, noted))
        return out

    def _previous(
        self, here: tuple[datetime, str], ignore: set[str], done: dict
    ) -> pd.DataFrame | None:
        """The latest snapshot before `here` with rows, as `macros/rolls.sql` takes the roll in
        force (an empty one, every row rejected, is stepped past): one of the chunk's, or a
        stored one."""
        earlier = sorted({*(k for k in done if k < here), *self.rolls.before(*here, ignore)})
        for found in reversed(earlier):
            frame = done[found] if found in done else self.rolls.snapshot(found[1])
            if len(frame):
                return frame
        return None


@dataclass
class _Staging:
    """One academy's ingestion under way: what its loop reads, and the report it counts into.
    Academies are staged together (`stage_academies`) so that their deliveries can be checked
    together."""

    academy: Academy
    calendar: SchoolCalendar
    report: AcademyIngestReport
    rolls: _Rolls
    ledger: LedgerIndex
    todo: list[tuple[Delivery, list[dict]]]
    roll_parser: _RollParser


@dataclass
class _Parsed:
    """A register delivery read and waiting to be checked with others (`check_parsed`): as
    the rows of its file (`table`, the CSV families, shaped with the batch) or as canonical
    records already (`frame`)."""

    delivery: Delivery
    ledger: dict
    roll: pd.DataFrame | None
    at: _Staging
    table: pa.Table | None = None
    frame: pd.DataFrame | None = None

    def rows(self) -> int:
        return len(self.table if self.table is not None else self.frame)


def parse_marks(home: Home, at: _Staging, delivery: Delivery, files: list[dict]) -> _Parsed | None:
    """Read one register delivery and pick the roll snapshot it is checked against (the
    latest extracted by its own time); None when it waits or is rejected whole."""
    ledger = _ledger_base(delivery, files)
    pages = load_pages(delivery) if delivery.kind == "api_json" else None
    if _waiting(home, delivery, ledger, at.report, pages):
        return None
    roll = at.rolls.latest(delivery.extracted_at)
    try:
        if delivery.kind in TABLES:
            read, _ = TABLES[delivery.kind]
            return _Parsed(delivery, ledger, roll, at, table=read(delivery, at.academy))
        if pages is None:
            records = PARSERS[delivery.kind](delivery, at.academy)
        else:
            records = api_json.parse(delivery, at.academy, pages)
        frame = apply_code_map(records, at.academy)
        return _Parsed(delivery, ledger, roll, at, frame=frame)
    except FileRejected as exc:
        _reject(home, delivery, ledger, exc, at.report)
        return None


def _shape(batch: list[_Parsed]) -> None:
    """Give every delivery of the batch its canonical records, shaping the read rows of each
    academy's CSV family in one pass (one pandas call per column for them, not per file):
    shaping reads the academy's own register times and code map."""
    tables = [p for p in batch if p.table is not None]
    for urn, kind in sorted({(p.delivery.urn, p.delivery.kind) for p in tables}):
        items = [p for p in tables if p.delivery.urn == urn and p.delivery.kind == kind]
        academy = items[0].at.academy
        _, shape = TABLES[kind]
        names = pd.Index([p.delivery.files[0].name for p in items])
        stacked = stack_rows([p.table for p in items], names)
        shaped = apply_code_map(shape(stacked, academy), academy)
        # Shaped records keep the stack's file order; each file is one delivery (its name is
        # unique in the academy's folder), found by a hash lookup, not a dict call per record.
        owner = names.get_indexer(shaped["source_file"]).astype(np.int64)
        cuts = np.searchsorted(owner, np.arange(len(items) + 1))
        for i, item in enumerate(items):
            item.frame = shaped.iloc[cuts[i] : cuts[i + 1]]
            item.table = None


def check_parsed(home: Home, batch: list[_Parsed]) -> list[_Pending]:
    """Check a batch of parsed register deliveries together (`check_many`; of one academy or
    many), then write each one's outputs: reports first, the marks dbt reads last, the ledger
    later (`finish`); a run killed in between leaves complete files that the next run
    rewrites identically. The batch's frames are assembled once and cut into each delivery's
    files (the files are what one delivery alone would give: same rows, same schema, no
    pandas metadata)."""
    _shape(batch)
    checked = check_many(
        [
            Delivered(p.frame, p.delivery.extracted_at, p.roll, p.at.academy, p.at.calendar)
            for p in batch
        ]
    )
    deliveries = [p.delivery for p in batch]
    keys = np.array([d.key for d in deliveries], dtype=object)
    urns = np.array([d.urn for d in deliveries], dtype=object)
    times = pd.Series([d.extracted_at for d in deliveries])

    marks = checked.loaded
    owner = marks["_part"].to_numpy()
    marks = marks.assign(
        urn=spread(urns, owner, marks.index),
        delivery=spread(keys, owner, marks.index),
        extracted_at=times.iloc[owner].to_numpy(),
    )
    marks_table = pa.Table.from_pandas(
        marks[store.MARKS_SCHEMA.names], schema=store.MARKS_SCHEMA, preserve_index=False
    ).replace_schema_metadata(None)
    issues = checked.issues
    owner = issues["_part"].to_numpy()
    issue_frame = _issue_rows(
        issues,
        spread(urns, owner, issues.index),
        spread(keys, owner, issues.index),
        times.iloc[owner].to_numpy(),
    )
    # Converted once for the batch and cut per delivery, as the marks are.
    issues_table = pa.Table.from_pandas(
        issue_frame, schema=store.ISSUES_SCHEMA, preserve_index=False
    ).replace_schema_metadata(None)
    status = issues["status"].to_numpy()
    rejected = np.bincount(owner[status == "rejected"], minlength=len(batch))
    missing = np.bincount(owner[status == "missing"], minlength=len(batch))
    warnings = np.bincount(owner[issues["severity"].to_numpy() == "warning"], minlength=len(batch))
    # The gate's columns only (GATED_COLUMNS): what a pending delivery carries to its gate.
    gate = gated_columns("marks", checked.frame)
    positions, statuses = pd.factorize(checked.status)  # four texts, each a Python object
    gate["status"] = spread(statuses, positions, gate.index)
    gate["urn"] = spread(urns, checked.frame["_part"].to_numpy(), gate.index)

    cut_marks, cut_issues, cut_gate = (checked.cuts(t) for t in (marks, issues, checked.frame))
    out = []
    for i, item in enumerate(batch):
        delivery = item.delivery
        mine = issues.iloc[cut_issues[i] : cut_issues[i + 1]]
        if rejected[i]:
            _quarantine_records(home, delivery, mine.drop(columns=["_part"]))
        path = _issues_path(home, delivery)
        if len(mine):
            store.write_arrow(issues_table.slice(cut_issues[i], len(mine)), path)
        else:
            store.remove(path)
        n_marks = int(cut_marks[i + 1] - cut_marks[i])
        store.write_arrow(
            marks_table.slice(cut_marks[i], n_marks),
            home.marks_dir / delivery.urn / f"{delivery.key}.parquet",
        )
        own_gate = gate.iloc[cut_gate[i] : cut_gate[i + 1]].reset_index(drop=True)
        counts = (int(rejected[i]), int(missing[i]), int(warnings[i]))
        out.append(_loaded(delivery, item.ledger, counts, n_marks, own_gate, item.at.report))
    batch.clear()
    return out


def _issue_rows(
    issues: pd.DataFrame, urns: pd.Series, keys: pd.Series, times: np.ndarray
) -> pd.DataFrame:
    """`_issue_frame` for the issues of many deliveries: each row's own academy, delivery and
    time."""
    out = issues.drop(columns=["_part"]).assign(urn=urns, delivery=keys, extracted_at=times)
    out["reason_code"] = reason_codes(out["reason"]) if len(out) else None
    return out[store.ISSUES_SCHEMA.names]


def check_batch_rows() -> int:
    """Register records checked together (check_parsed): $ATTENDANCE_CHECK_BATCH_ROWS, else
    100,000, about fifty deliveries: most of the per-call saving, memory still small."""
    return max(1, int(os.environ.get("ATTENDANCE_CHECK_BATCH_ROWS", "100000")))


def ingest_academy(home: Home, urn: str, up_to: date | None = None) -> AcademyIngestReport:
    """Ingest everything new in `landing/<urn>/`, oldest extraction first.

    `up_to` limits ingestion to deliveries extracted on or before that day; the warehouse keeps
    every version, and as-of filtering happens in dbt, so this is an optimisation only.
    """
    report, pending = stage_academy(home, urn, up_to)
    finish(home, pending, {urn: report})
    log.info("academy %s ingested: %s", urn, report.as_dict())
    return report


def stage_academy(
    home: Home, urn: str, up_to: date | None = None
) -> tuple[AcademyIngestReport, list[_Pending]]:
    """`ingest_academy` without gating its last batch: the deliveries left pending (fewer
    records than `gate_batch_rows`) come back so that a caller ingesting many academies can
    gate them with other academies' in one GX validation (`finish`). Until then they have no
    ledger entry, so a run killed in between simply processes them again."""
    reports, pending = stage_academies(home, [urn], up_to)
    return reports[urn], pending


def _begin(home: Home, urn: str, up_to: date | None) -> _Staging:
    """An academy's staging: its configuration, its new deliveries (those without a ledger
    entry for the same files) and its roll snapshots so far."""
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
    rolls = _Rolls(home, urn)
    ledger = LedgerIndex(home, urn)
    todo: list[tuple[Delivery, list[dict]]] = []
    for delivery in deliveries:
        if up_to is not None and delivery.extracted_at.date() > up_to:
            continue
        report.deliveries_seen += 1
        done, files = _check_ledger(home, delivery, ledger)
        if done:
            report.deliveries_skipped += 1
            continue
        todo.append((delivery, files))
    roll_parser = _RollParser([d for d, _ in todo], urn, rolls)
    return _Staging(academy, calendar, report, rolls, ledger, todo, roll_parser)


def _parse_first_rolls(staged: list[_Staging]) -> None:
    """Parse the first chunk of roll snapshots of every academy staged in one `parse_rolls`
    call. Its rows are checked row by row and UPN by snapshot, so the result is each
    academy's alone; but a daily run has one snapshot of a few hundred rows per academy, and
    one call for 50 of them cost 0.2 CPU-s against 1.05 for 50 calls (day 194 at M)."""
    waiting = [s for s in staged if s.roll_parser.waiting]
    if len(waiting) < 2:
        return  # the academy's loop parses its own
    chunks = [s.roll_parser.chunk(s.roll_parser.waiting[0]) for s in waiting]
    parsed = parse_rolls([d for chunk in chunks for d in chunk])
    at = 0
    for s, chunk in zip(waiting, chunks, strict=True):
        s.roll_parser.accept(chunk, parsed[at : at + len(chunk)])
        at += len(chunk)


def stage_academies(
    home: Home, urns: list[str], up_to: date | None = None
) -> tuple[dict[str, AcademyIngestReport], list[_Pending]]:
    """`stage_academy` for several academies at once: their register deliveries are checked
    together (`check_parsed`, in batches of `check_batch_rows` across academies) and their
    first roll snapshots parsed together, so that pandas' cost per call is paid once for the
    lot rather than once per academy. That is what a daily run is made of (one day's
    deliveries, a few thousand records, for each of 50 academies: checked academy by academy
    1.1 CPU-s at M, together 0.35). Each delivery's outputs are those it has staged alone.
    Returns each academy's report (in `urns` order) and the deliveries left pending their gate
    (every academy's; `finish` gates them with `reports`)."""
    staged = [_begin(home, urn, up_to) for urn in urns]
    reports = {s.academy.urn: s.report for s in staged}
    _parse_first_rolls(staged)
    pending: list[_Pending] = []
    parsed: list[_Parsed] = []

    def add(items: list[_Pending]) -> None:
        pending.extend(items)
        if pending_rows(pending) >= gate_batch_rows():
            finish(home, pending, reports)

    for at in staged:
        for delivery, files in at.todo:
            if delivery.kind == "pupils":
                snapshot, outputs = at.roll_parser.take(delivery)
                item = ingest_roll(
                    home, at.academy, delivery, snapshot, at.rolls, at.report, files, outputs
                )
                add([item] if item is not None else [])
                continue
            one = parse_marks(home, at, delivery, files)
            if one is not None:
                parsed.append(one)
                if sum(p.rows() for p in parsed) >= check_batch_rows():
                    add(check_parsed(home, parsed))
    if parsed:
        add(check_parsed(home, parsed))
    for at in staged:
        at.ledger.save()
    return reports, pending
