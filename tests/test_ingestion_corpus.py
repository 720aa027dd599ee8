"""The bad-input corpus (tests/corpus/): one small hand-written case per failure mode of SPEC 4,
plus what real MIS exports do. Each case must produce its own specific error, on the right
line, while every valid record beside it still loads.

Every case is ingested into a fresh home with one academy (URN 140001, LAESTAB 9312001) and
the calendar of tests/builders.py plus a 2024 summer term (for the earlier code set). Unless a
case brings its own, the roll is tests/corpus/_roll (pupils 1-4; pupil 4 leaves on 30 Sep
2025) and a valid delivery of 5 Sep (tests/corpus/_valid, two marks) lands beside the case.

UPNs used: M931200120001 (1), B931200120002 (2), Q931200120003 (3), E931200120004 (4),
U931200120005 (5, on no roll); B931200120001 is pupil 1's number with a wrong check letter.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from attendance.home import Home
from ingestion.decode import decode_export
from ingestion.dq_report import academy_markdown, issue_rows
from ingestion.ingest import AcademyIngestReport, ingest_academy
from ingestion.store import ISSUES_SCHEMA
from tests.builders import CALENDAR, LAESTAB, URN, write_config

CORPUS = Path(__file__).parent / "corpus"
P1, P2, P3, P4, P5 = (
    "M931200120001",
    "B931200120002",
    "Q931200120003",
    "E931200120004",
    "U931200120005",
)
SEED_004 = {
    "am_start": "08:45",
    "am_late": "09:00",
    "am_close": "09:15",
    "pm_start": "13:00",
    "pm_late": "13:15",
    "pm_close": "13:30",
}
VALID = {
    "long_csv": "_valid",
    "arbor_csv": "_valid_arbor",
    "weekly_grid_csv": "_valid_weekly",
    "api_json": "_valid_api",
}
SEED_001 = {**SEED_004, "am_start": "08:40", "am_late": "08:50"}


def make_home(
    root: Path,
    cases: list[str],
    source_format: str = "long_csv",
    registers: dict | None = None,
    code_map: dict | None = None,
    roll: bool = True,
    valid: bool = True,
) -> Home:
    academy = {
        "urn": URN,
        "laestab": LAESTAB,
        "name": "Test Primary",
        "phase": "primary",
        "la_code": "931",
        "source_format": source_format,
        "policy": "four_six_ten",
        "calendar": "default",
        "registers": registers or SEED_004,
    }
    if code_map:
        academy["code_map"] = code_map
    write_config(root, academies=[academy])
    calendar = {
        **CALENDAR,
        "terms": [{"start": date(2024, 4, 15), "end": date(2024, 7, 19)}, *CALENDAR["terms"]],
    }
    (root / "config" / "calendars" / "default.yml").write_text(yaml.safe_dump(calendar))
    landing = root / "landing" / URN
    landing.mkdir(parents=True, exist_ok=True)
    extra = []
    if roll:
        extra.append("_roll")
    if valid:
        extra.append(VALID[source_format])
    for case in [*extra, *cases]:
        for f in sorted((CORPUS / case).iterdir()):
            shutil.copy(f, landing / f.name)
    return Home.resolve(root)


@dataclass
class Outcome:
    report: AcademyIngestReport
    marks: pd.DataFrame
    issues: pd.DataFrame
    ledger: dict[str, dict] = field(default_factory=dict)

    def issue_at(self, line: int, file_prefix: str = "") -> list[tuple[str, str, str]]:
        rows = self.issues[
            (self.issues["source_row"] == line)
            & self.issues["source_file"].str.startswith(file_prefix)
        ]
        return sorted(zip(rows["status"], rows["reason_code"], rows["reason"], strict=True))

    def codes_by_line(self, delivery: str) -> dict[int, str]:
        part = self.issues[self.issues["delivery"] == delivery]
        return {int(r): c for r, c in zip(part["source_row"], part["reason_code"], strict=True)}

    def marks_of(self, delivery: str) -> pd.DataFrame:
        return self.marks[self.marks["delivery"] == delivery].reset_index(drop=True)


def _read_all(folder: Path) -> pd.DataFrame:
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    frames = [pd.read_parquet(f) for f in files]
    full = [f for f in frames if len(f)]
    if full:
        return pd.concat(full, ignore_index=True)
    return frames[0] if frames else pd.DataFrame()


def ingest(home: Home) -> Outcome:
    report = ingest_academy(home, URN)
    ledger = {
        p.stem: json.loads(p.read_text()) for p in sorted((home.ledger_dir / URN).glob("*.json"))
    }
    issues = _read_all(home.warehouse / "issues" / URN)
    if issues.empty:  # a delivery without issues writes no issues file
        issues = pd.DataFrame(columns=ISSUES_SCHEMA.names)
    return Outcome(report, _read_all(home.marks_dir / URN), issues, ledger)


def nulls_as_none(values: pd.Series) -> list:
    return [None if pd.isna(v) else v for v in values]


def assert_valid_beside(out: Outcome) -> None:
    """The valid 5 Sep delivery beside every case loads whole."""
    valid = out.marks[out.marks["extracted_at"].dt.date == date(2025, 9, 5)]
    assert sorted(zip(valid["session"], valid["code"], strict=True)) == [("AM", "/"), ("PM", "\\")]


# --- SPEC 4 validations, record by record ------------------------------------------------


def test_upn_check_letter(tmp_path):
    out = ingest(make_home(tmp_path, ["upn_check_letter"]))
    d = "registers_20250908T183000"
    assert out.codes_by_line(d) == {3: "upn_invalid", 4: "upn_invalid"}
    assert out.issue_at(3, "registers_20250908")[0][2] == "UPN check letter is 'B', expected 'M'"
    assert out.issue_at(4, "registers_20250908")[0][2] == "UPN must be 13 characters, got 12"
    assert sorted(out.marks_of(d)["upn"]) == [P2, P1]  # B... sorts before M...
    assert out.ledger[d]["records_rejected"] == 2
    assert_valid_beside(out)


def test_code_sets_by_date(tmp_path):
    out = ingest(make_home(tmp_path, ["code_sets"]))
    d = "registers_20250908T183000"
    # H and J are valid before 19 Aug 2024; K is not yet; H is no longer valid in 2025;
    # 7 is no DfE code at all.
    assert out.codes_by_line(d) == {4: "code_wrong_set", 5: "code_wrong_set", 8: "code_unknown"}
    loaded = out.marks_of(d)
    assert sorted(zip(loaded["source_row"], loaded["code"], strict=True)) == [
        (2, "H"),
        (3, "J"),
        (6, "J1"),
        (7, "Y4"),
    ]
    assert_valid_beside(out)


def test_local_codes_are_mapped_per_academy(tmp_path):
    home = make_home(tmp_path, ["code_map"], code_map={"I01": "I", "X01": "X"})
    out = ingest(home)
    d = "registers_20250908T183000"
    loaded = out.marks_of(d)
    assert sorted(
        zip(loaded["source_row"], loaded["source_code"], loaded["code"], strict=True)
    ) == [
        (2, "I01", "I"),
        (3, "X01", "X"),
        (5, "/", "/"),
    ]
    assert out.codes_by_line(d) == {4: "code_unknown"}  # '9' has no mapping
    assert "code_map" in out.issue_at(4, "registers_20250908")[0][2]


def test_code_map_targets_must_be_dfe_codes(tmp_path):
    from attendance.config import ConfigError, load_trust

    home = make_home(tmp_path, [], code_map={"I01": "Q9"})
    with pytest.raises(ConfigError, match="code_map.I01 maps to 'Q9'"):
        load_trust(home)


def test_calendar_weekend_holiday_term_and_closure(tmp_path):
    out = ingest(make_home(tmp_path, ["calendar"]))
    d = "registers_20251114T183000"
    assert out.codes_by_line(d) == {
        2: "date_weekend",  # Sat 6 Sep
        3: "date_holiday",  # half term
        4: "date_outside_term",  # 15 Aug, a Friday in the summer holiday
        6: "closure_mark",  # INSET day with '\': kept, reported
    }
    assert out.issue_at(6, "registers_2025111")[0][0] == "loaded"
    loaded = out.marks_of(d)
    assert sorted(zip(loaded["source_row"], loaded["code"], strict=True)) == [
        (5, "#"),
        (6, "\\"),
        (7, "/"),
    ]


def test_marks_dated_after_their_extraction(tmp_path):
    out = ingest(make_home(tmp_path, ["future_date"]))
    d = "registers_20250908T183000"
    assert out.codes_by_line(d) == {3: "date_after_extraction"}
    assert "2025-09-08" in out.issue_at(3, "registers_20250908")[0][2]
    assert list(out.marks_of(d)["source_row"]) == [2]


def test_session_values(tmp_path):
    out = ingest(make_home(tmp_path, ["session"]))
    d = "registers_20250908T183000"
    assert out.codes_by_line(d) == {3: "field_invalid"}
    assert out.issue_at(3, "registers_20250908")[0][2] == "Session must be AM or PM"
    loaded = out.marks_of(d)
    assert sorted(zip(loaded["source_row"], loaded["session"], strict=True)) == [
        (2, "AM"),
        (4, "PM"),
    ]


def test_conflicting_duplicates_inside_one_delivery(tmp_path):
    out = ingest(make_home(tmp_path, ["conflict"]))
    d = "registers_20250908T183000"
    # Lines 2 and 3 disagree: both rejected. Lines 4 and 5 agree: loaded once, reported.
    assert out.codes_by_line(d) == {2: "conflict", 3: "conflict", 5: "duplicate"}
    loaded = out.marks_of(d)
    assert sorted(zip(loaded["upn"], loaded["source_row"], strict=True)) == [(P2, 4), (P3, 6)]


def test_pupils_not_on_roll_are_kept_with_a_warning(tmp_path):
    out = ingest(make_home(tmp_path, ["not_on_roll"]))
    d = "registers_20251001T183000"
    # P5 is on no roll; P4 left on 30 Sep. Both kept, both reported; P3 clean.
    assert out.codes_by_line(d) == {2: "not_on_roll", 3: "not_on_roll"}
    assert set(out.issues.loc[out.issues["delivery"] == d, "severity"]) == {"warning"}
    assert sorted(out.marks_of(d)["upn"]) == [P4, P3, P5]


# --- whole files rejected ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "source_format", "delivery", "code", "line"),
    [
        ("identity_long", "long_csv", "registers_20250909T120000", "identity_mismatch", None),
        ("identity_mixed", "long_csv", "registers_20250908T183000", "identity_mismatch", None),
        ("arbor_identity", "arbor_csv", "attendance_20250908T183000", "identity_mismatch", None),
        ("weekly_identity", "weekly_grid_csv", "weekly_20250912T183000", "identity_mismatch", 1),
        ("api_identity", "api_json", "attendance_20250909T183000", "identity_mismatch", None),
        ("empty", "long_csv", "registers_20250908T183000", "file_empty", None),
        ("whitespace", "long_csv", "registers_20250908T183000", "file_empty", None),
        ("truncated", "long_csv", "registers_20250908T183000", "file_truncated", 3),
        ("unclosed_quote", "long_csv", "registers_20250908T183000", "file_unreadable", 3),
        ("binary", "long_csv", "registers_20250908T183000", "file_columns", 1),
        # a UTF-8 byte-order mark, then Windows-1252 bytes: the export contradicts itself
        ("encoding_bom_mixed", "long_csv", "registers_20250908T183000", "file_unreadable", 2),
        ("missing_column", "long_csv", "registers_20250908T183000", "file_columns", 1),
        ("api_malformed", "api_json", "attendance_20250909T183000", "file_unreadable", None),
    ],
)
def test_whole_file_rejections(tmp_path, case, source_format, delivery, code, line):
    home = make_home(tmp_path, [case], source_format=source_format)
    out = ingest(home)
    entry = out.ledger[delivery]
    assert entry["status"] == "rejected"
    assert entry["line"] == line
    rejected = out.issues[out.issues["delivery"] == delivery]
    assert list(rejected["reason_code"]) == [code]
    assert out.marks_of(delivery).empty  # nothing from the file is loaded
    quarantined = home.quarantine / URN / delivery
    reason = json.loads((quarantined / "reason.json").read_text())
    assert reason["reason_code"] == code and reason["rejected"] == "whole delivery"
    for f in (home.landing / URN).glob(f"{delivery}*"):
        assert (quarantined / f.name).read_bytes() == f.read_bytes()
    # The valid delivery beside it still loads.
    valid = out.marks[out.marks["delivery"] != delivery]
    assert len(valid) == 2 and set(valid["upn"]) == {P1}


def test_identity_reason_names_both_schools(tmp_path):
    out = ingest(make_home(tmp_path, ["identity_mixed"]))
    reason = out.ledger["registers_20250908T183000"]["reason"]
    assert "9312002" in reason and "9312001" in reason


# --- encodings and what real MIS exports do -----------------------------------------------


def test_utf8_with_bom(tmp_path):
    out = ingest(make_home(tmp_path, ["encoding_utf8_bom"]))
    assert sorted(out.marks_of("registers_20250908T183000")["upn"]) == [P2, P1]
    raw = (CORPUS / "encoding_utf8_bom" / "registers_20250908T183000.csv").read_bytes()
    text, encoding = decode_export(raw)
    assert encoding == "utf-8-sig" and text.startswith("LAESTAB,") and "Nowak-Żółć" in text


def test_windows_1252(tmp_path):
    out = ingest(make_home(tmp_path, ["encoding_cp1252"]))
    loaded = out.marks_of("registers_20250908T183000")
    # L with 20 minutes late: arrival 09:05 against am_start 08:45; late from 09:00: no warning.
    assert sorted(
        zip(loaded["upn"], loaded["code"], nulls_as_none(loaded["arrival_time"]), strict=True)
    ) == [
        (P2, "L", "09:05"),
        (P1, "/", None),
    ]
    assert out.issues[out.issues["delivery"] == "registers_20250908T183000"].empty
    raw = (CORPUS / "encoding_cp1252" / "registers_20250908T183000.csv").read_bytes()
    text, encoding = decode_export(raw)
    assert encoding == "cp1252" and "Zoë,Müller" in text and "O’Neill" in text


def test_real_mis_exports(tmp_path):
    """Extra and reordered columns, quoted fields with commas and line breaks, names in any
    script, trailing blank lines: all read; the bad UPN is reported on its physical line."""
    out = ingest(make_home(tmp_path, ["mis_realities"]))
    d = "registers_20250908T190000"
    # Line 3-4 is one record (a note with a line break); the next records start on 5, 6, 7.
    assert out.codes_by_line(d) == {7: "upn_invalid"}
    loaded = out.marks_of(d)
    got = sorted(
        zip(
            loaded["upn"],
            loaded["source_row"],
            loaded["code"],
            nulls_as_none(loaded["arrival_time"]),
            strict=True,
        )
    )
    assert got == [
        (P2, 3, "I", None),
        (P4, 6, "/", None),
        (P1, 2, "/", None),
        (P3, 5, "L", "09:05"),
    ]
    assert int(loaded.loc[loaded["upn"] == P3, "minutes_late"].iloc[0]) == 20


def test_weekly_grid_cells(tmp_path):
    out = ingest(make_home(tmp_path, ["weekly_grid"], source_format="weekly_grid_csv", valid=False))
    d = "weekly_20250912T183000"
    issues = out.issues[out.issues["delivery"] == d]
    got = sorted(zip(issues["source_row"], issues["status"], issues["reason_code"], strict=True))
    assert got == [
        (3, "missing", "missing_mark"),  # Wed AM '-'
        (4, "rejected", "field_invalid"),  # week beginning on a Tuesday: both cells
        (4, "rejected", "field_invalid"),
        (5, "rejected", "code_unknown"),  # Tue AM 'Z9'
    ]
    loaded = out.marks_of(d)
    assert len(loaded) == 8  # 5 for pupil 1 (empty cells say nothing), 3 for pupil 3
    p1 = loaded[loaded["upn"] == P1]
    assert sorted(zip(p1["mark_date"].astype(str), p1["session"], strict=True)) == [
        ("2025-09-08", "AM"),
        ("2025-09-08", "PM"),
        ("2025-09-09", "AM"),
        ("2025-09-09", "PM"),
        ("2025-09-10", "PM"),
    ]


@pytest.mark.parametrize(
    ("registers", "contradicted"),
    [(SEED_004, {4, 5, 7}), (SEED_001, {3, 4, 5, 7})],
    ids=["seed004", "seed001"],
)
def test_arrival_times_against_register_times(tmp_path, registers, contradicted):
    """Seed 004: late from 09:00, U from 09:15. Seed 001: late from 08:50, U from 09:15.
    Line 3 ('/' at 08:55) is on time under 004 and late under 001. Marks are never rewritten."""
    home = make_home(
        tmp_path, ["arbor_arrival"], source_format="arbor_csv", registers=registers, valid=False
    )
    out = ingest(home)
    d = "attendance_20250908T183000"
    assert out.codes_by_line(d) == dict.fromkeys(contradicted, "arrival_contradiction")
    assert out.issue_at(5, "attendance")[0][2] == (
        "mark L contradicts arrival at 09:20 (the register times give U)"
    )
    loaded = out.marks_of(d).sort_values("source_row")
    assert list(loaded["code"]) == ["/", "/", "/", "L", "L", "U", "\\", "U"]


# --- api_json pagination --------------------------------------------------------------------


def test_api_delivery_waits_for_missing_pages(tmp_path):
    home = make_home(tmp_path, ["api_pagination"], source_format="api_json")
    out = ingest(home)
    d = "attendance_20250908T183000"
    assert out.ledger[d]["status"] == "waiting"
    assert out.ledger[d]["reason"] == "pages 2 have not arrived"
    assert out.report.deliveries_waiting == 1
    assert out.marks_of(d).empty
    assert "Deliveries waiting for missing pages" in academy_markdown(home, URN)
    # Page 2 arrives: the delivery is processed whole, records numbered within their page.
    shutil.copy(
        CORPUS / "api_pagination_late" / "attendance_20250908T183000_p2.json",
        home.landing / URN / "attendance_20250908T183000_p2.json",
    )
    out = ingest(home)
    assert out.ledger[d]["status"] == "loaded"
    loaded = out.marks_of(d)
    assert sorted(zip(loaded["source_file"], loaded["source_row"], strict=True)) == [
        ("attendance_20250908T183000_p1.json", 1),
        ("attendance_20250908T183000_p1.json", 2),
        ("attendance_20250908T183000_p2.json", 1),
        ("attendance_20250908T183000_p3.json", 1),
    ]
    issues = out.issues[out.issues["delivery"] == d]
    got = sorted(
        zip(issues["source_file"], issues["source_row"], issues["reason_code"], strict=True)
    )
    assert got == [
        ("attendance_20250908T183000_p2.json", 2, "field_invalid"),
        ("attendance_20250908T183000_p3.json", 2, "upn_invalid"),
    ]
    arrival = loaded.loc[loaded["upn"] == P3, "arrival_time"].iloc[0]
    assert arrival == "09:05"  # 20 minutes after am_start 08:45


# --- rolls ----------------------------------------------------------------------------------


def test_rolls_latest_snapshot_joiners_and_leavers(tmp_path):
    """Roll of 1 Sep: pupils 1, 2. Roll of 10 Sep: 2 left on 9 Sep, 3 joined on 10 Sep (4's
    row has a bad NC year and is rejected). Marks are checked against the roll known when
    they were extracted."""
    home = make_home(tmp_path, ["roll_history"], roll=False, valid=False)
    out = ingest(home)
    assert out.codes_by_line("registers_20250905T183000") == {3: "not_on_roll"}  # 3 not yet
    assert out.codes_by_line("registers_20250911T183000") == {3: "not_on_roll"}  # 2 has left
    assert out.codes_by_line("pupils_20250910T070000") == {5: "roll_field_invalid"}
    rolls = _read_all(home.rolls_dir / URN)
    latest = rolls[rolls["source_file"] == "pupils_20250910T070000.csv"]
    assert sorted(latest["upn"]) == [P2, P1, P3]
    p2 = latest[latest["upn"] == P2].iloc[0]
    assert str(p2["leaving_date"])[:10] == "2025-09-09"
    # Both snapshots are kept whole (history), not merged.
    first = rolls[rolls["source_file"] == "pupils_20250901T070000.csv"]
    assert sorted(first["upn"]) == [P2, P1] and first["leaving_date"].isna().all()


def test_a_roll_row_repeated_exactly_is_kept_once_rows_that_differ_are_rejected(tmp_path):
    """Roll of 10 Sep: pupil 1's row twice, exactly (an export listing a pupil twice: kept
    once, a warning, so the child stays on the roll and on every list built on it); pupil 2
    twice with different reg groups (neither can be believed: both rejected); pupil 3's row,
    the same again, and a third that differs (all three rejected: the repeat is no help when
    the pupil's rows clash). Pupils 2 and 3 are then not on the roll for their 11 Sep marks."""
    home = make_home(tmp_path, ["roll_repeats"], roll=False, valid=False)
    out = ingest(home)
    assert out.issue_at(4, "pupils") == [
        ("loaded", "roll_repeated_row", "the same pupil row appears twice in the roll (kept once)")
    ]
    assert out.codes_by_line("pupils_20250910T070000") == {
        3: "roll_duplicate",
        4: "roll_repeated_row",
        5: "roll_duplicate",
        6: "roll_duplicate",
        7: "roll_duplicate",
        8: "roll_duplicate",
    }
    roll = _read_all(home.rolls_dir / URN)
    assert list(roll["upn"]) == [P1]
    assert out.codes_by_line("registers_20250911T183000") == {3: "not_on_roll", 4: "not_on_roll"}
    entry = out.ledger["pupils_20250910T070000"]
    assert (entry["records_loaded"], entry["records_rejected"], entry["warnings"]) == (1, 5, 1)
    # Only the rejected rows are quarantined; the gate sees all seven rows, the copy as a
    # duplicate, and passes (each stored pupil once).
    rejected = pd.read_csv(home.quarantine / URN / "pupils_20250910T070000" / "rejected.csv")
    assert list(rejected["source_row"]) == [3, 5, 6, 7, 8]
    gate = json.loads((home.warehouse / "gate" / URN / "pupils_20250910T070000.json").read_text())
    assert (gate["passed"], gate["records"]) == (True, 7)


def test_a_pupil_whose_roll_row_is_rejected_keeps_their_previous_row(tmp_path):
    """Roll of 1 Sep: pupils 1-3. Roll of 10 Sep: 1 moves to 4B; 2's NC Year is 'Y4' and 3
    has two rows that differ (rejected: neither can be believed); 4 joins with FSM 'X'
    (rejected). 2 and 3 have not left (a roll is a full snapshot, and they are in it): their
    1 Sep rows stand, with a warning beside each error; 4 was never on a roll, so nothing
    stands for them. Roll of 15 Sep: 2 and 4 are valid; 3's NC Year is '44', and the row the
    10 Sep roll kept still stands, stepping past the roll of 12 Sep, where every row is
    rejected (FSM '?'): nothing is carried into that one, it stays empty and so out of force,
    as before. Marks are checked against those rolls: only 4's 11 Sep mark is off the roll."""
    home = make_home(tmp_path, ["roll_carried"], roll=False, valid=False)
    out = ingest(home)
    carried = "the pupil's row is rejected: their row from the previous roll is kept"
    assert out.issue_at(3, "pupils_20250910") == [
        ("loaded", "roll_row_carried", carried),
        ("rejected", "roll_field_invalid", "NC Year must be N1, N2, R or 1-14"),
    ]
    tenth = out.issues[out.issues["delivery"] == "pupils_20250910T070000"]
    assert list(zip(tenth["source_row"], tenth["reason_code"], strict=True)) == [
        (3, "roll_field_invalid"),
        (3, "roll_row_carried"),
        (4, "roll_duplicate"),
        (4, "roll_row_carried"),
        (5, "roll_duplicate"),
        (6, "roll_field_invalid"),
    ]
    assert out.codes_by_line("registers_20250911T183000") == {5: "not_on_roll"}
    assert out.codes_by_line("registers_20250916T183000") == {}
    rolls = _read_all(home.rolls_dir / URN)
    by_roll: dict[str, dict] = {}
    for t, upn, src, row, reg in zip(
        rolls["extracted_at"],
        rolls["upn"],
        rolls["source_file"],
        rolls["source_row"],
        rolls["reg_group"],
        strict=True,
    ):
        by_roll.setdefault(str(t)[:10], {})[upn] = (src, int(row), reg)
    assert sorted(by_roll) == ["2025-09-01", "2025-09-10", "2025-09-15"]
    assert len(pd.read_parquet(home.rolls_dir / URN / "pupils_20250912T070000.parquet")) == 0
    assert out.codes_by_line("pupils_20250912T070000") == {
        2: "roll_field_invalid",
        3: "roll_field_invalid",
    }
    assert by_roll["2025-09-10"] == {
        P1: ("pupils_20250910T070000.csv", 2, "4B"),
        P2: ("pupils_20250901T070000.csv", 3, "4A"),
        P3: ("pupils_20250901T070000.csv", 4, "4A"),
    }
    assert by_roll["2025-09-15"] == {
        P1: ("pupils_20250915T070000.csv", 2, "4B"),
        P2: ("pupils_20250915T070000.csv", 3, "4B"),
        P3: ("pupils_20250901T070000.csv", 4, "4A"),  # carried on from the 10 Sep roll
        P4: ("pupils_20250915T070000.csv", 5, "4A"),
    }
    # The delivery's own records loaded; the carried rows are warnings, not its records.
    entry = out.ledger["pupils_20250910T070000"]
    assert (entry["records_loaded"], entry["records_rejected"], entry["warnings"]) == (1, 4, 2)
    rejected = pd.read_csv(home.quarantine / URN / "pupils_20250910T070000" / "rejected.csv")
    assert list(rejected["source_row"]) == [3, 4, 5, 6]
    gate = json.loads((home.warehouse / "gate" / URN / "pupils_20250910T070000.json").read_text())
    assert (gate["passed"], gate["records"]) == (True, 7)


def test_a_carried_roll_row_is_the_same_ingested_day_by_day(tmp_path):
    """The daily run finds the previous roll on disk, a rebuild in the same batch of parsed
    snapshots: the rolls, issues, gate results and marks written are the same bytes either
    way, and the ledger's counts the same (its entries also hold the landing files' times)."""
    whole = make_home(tmp_path / "whole", ["roll_carried"], roll=False, valid=False)
    ingest_academy(whole, URN)
    daily = make_home(tmp_path / "daily", ["roll_carried"], roll=False, valid=False)
    for day in (1, 10, 11, 12, 15, 16):
        ingest_academy(daily, URN, up_to=date(2025, 9, day))
    for folder in ("rolls", "issues", "gate", "marks"):
        a = sorted((whole.warehouse / folder / URN).glob("*"))
        b = sorted((daily.warehouse / folder / URN).glob("*"))
        assert [p.name for p in a] == [p.name for p in b] and a
        assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b, strict=True)), folder
    counts = ("status", "records_loaded", "records_rejected", "warnings")
    for path in sorted((whole.ledger_dir / URN).glob("*.json")):
        entry = json.loads(path.read_text())
        again = json.loads((daily.ledger_dir / URN / path.name).read_text())
        assert [entry[c] for c in counts] == [again[c] for c in counts]


def test_unrecognised_files_are_reported_not_read(tmp_path):
    home = make_home(tmp_path, ["unrecognised"], valid=False)
    out = ingest(home)
    assert sorted(out.report.unrecognised_files) == [
        "registers_20251301T183000.csv: the extraction time in the file name is not a date",
        "registers_final.csv: file name does not match the long_csv naming rule",
    ]
    assert out.marks.empty
    assert "registers_final.csv" in academy_markdown(home, URN)


# --- idempotency and the report ------------------------------------------------------------


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_ingesting_the_same_files_twice_changes_nothing(tmp_path):
    home = make_home(tmp_path, ["mis_realities", "conflict"])
    ingest(home)
    before = {**_tree(home.warehouse), **_tree(home.quarantine)}
    out = ingest(home)
    assert out.report.deliveries_loaded == 0 and out.report.deliveries_skipped == 4
    after = {**_tree(home.warehouse), **_tree(home.quarantine)}
    # the second run read the ledger and kept what it read (ingestion/read_cache.py): a
    # cache beside the ledger, the one addition; a third run changes nothing at all
    index = f"read_cache/{URN}/ledger.json"
    assert after.keys() - before.keys() == {index}
    assert {k: v for k, v in after.items() if k != index} == before
    ingest(home)
    assert {**_tree(home.warehouse), **_tree(home.quarantine)} == after


def test_data_quality_report_says_which_file_line_what_and_what_to_do(tmp_path):
    home = make_home(tmp_path, ["conflict", "identity_long"])
    ingest(home)
    rows = issue_rows(home, URN)
    conflict = rows[rows["reason_code"] == "conflict"]
    assert list(conflict["line"]) == [2, 3]
    assert set(conflict["file"]) == {"registers_20250908T183000.csv"}
    assert conflict["what_to_do"].str.contains("correct the register").all()
    text = academy_markdown(home, URN)
    assert "## Files rejected whole" in text
    assert "| registers_20250908T183000.csv | 2 | M931200120001 |" in text
    assert text == academy_markdown(home, URN)  # deterministic
