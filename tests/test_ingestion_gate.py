"""The GX Core quality gate (ingestion/quality_gate.py) on hand-made parsed deliveries: each
expectation fails exactly when its rule is broken, and its result reaches the ledger, the gate
JSON and the data-quality report."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest

from ingestion.dq_report import academy_markdown, gate_rows
from ingestion.ingest import ingest_academy
from ingestion.quality_gate import (
    DAYS_AFTER,
    DELIVERY,
    GATED_COLUMNS,
    UPN_IN_DELIVERY,
    URN_IS_OWN,
    _batch_checks,
    _columns_read,
    _marks_checks,
    _roll_checks,
    gated_columns,
    run_gate,
)
from tests.builders import URN, upn, write_config, write_long_csv, write_roll

EXTRACTED = datetime(2025, 9, 8, 18, 30)


def marks_frame(rows: list[dict]) -> pd.DataFrame:
    base = {
        "urn": URN,
        "upn": upn(1),
        "mark_date": date(2025, 9, 8),
        "session": "AM",
        "code": "/",
        "minutes_late": None,
        "status": "loaded",
    }
    return pd.DataFrame([{**base, **r} for r in rows])


def failed(result: dict) -> dict[str, int]:
    return {r["check"]: r["unexpected_count"] for r in result["results"] if not r["success"]}


def test_a_clean_delivery_passes_every_check():
    frame = marks_frame([{}, {"session": "PM", "code": "\\"}, {"upn": upn(2), "code": "L"}])
    result = run_gate("long_csv", frame, URN, EXTRACTED, "registers_x")
    assert result["passed"] and failed(result) == {}
    assert result["summary"]["checks"] == len(result["results"]) == 9
    assert all(not r["exception"] for r in result["results"])


@pytest.mark.parametrize(
    ("row", "check"),
    [
        ({"urn": "140999"}, "identity: every stored record is this academy's"),
        ({"upn": "A12345"}, "UPN: 13 characters in the DfE pattern"),
        ({"code": "Q9"}, "code: a DfE attendance code"),
        ({"session": "EV"}, "session: AM or PM"),
        ({"mark_date": date(2025, 9, 9)}, "date: present and not after the extraction"),
        ({"mark_date": None}, "date: every stored record has one"),
    ],
)
def test_each_error_check_catches_its_rule(row, check):
    frame = marks_frame([{"session": "PM"}, {"upn": upn(3), **row}])
    result = run_gate("long_csv", frame, URN, EXTRACTED, "registers_x")
    assert failed(result) == {check: 1}
    assert not result["passed"] and result["summary"]["failed_errors"] == [check]


def test_only_loaded_records_count_for_error_checks():
    # A rejected record with a bad code is validation's business, not a gate failure.
    frame = marks_frame([{}, {"code": "Q9", "status": "rejected"}])
    result = run_gate("long_csv", frame, URN, EXTRACTED, "registers_x")
    assert result["passed"]
    # ...but 1 rejected of 2 is more than 5% of the delivery: a warning.
    assert failed(result) == {"delivery: at most 5% of its records rejected": 1}
    assert result["summary"]["failed_warnings"] == ["delivery: at most 5% of its records rejected"]


def test_duplicate_keys_and_personal_values_are_not_echoed():
    frame = marks_frame([{}, {}])
    result = run_gate("long_csv", frame, URN, EXTRACTED, "registers_x")
    assert failed(result) == {"key: one stored mark per pupil, date and session": 2}
    key = next(r for r in result["results"] if r["check"].startswith("key"))
    assert key["examples"] == []  # UPNs are never copied into gate results
    code = marks_frame([{"code": "Q9"}])
    result = run_gate("long_csv", code, URN, EXTRACTED, "registers_x")
    bad = next(r for r in result["results"] if r["check"].startswith("code"))
    assert bad["examples"] == ["Q9"]


def test_roll_suite():
    roll = pd.DataFrame(
        {
            "urn": URN,
            "upn": [upn(1), upn(2), upn(2)],
            "date_of_birth": [date(2016, 1, 1)] * 3,
            "nc_year": ["4", "X", "4"],
            "entry_date": [date(2020, 9, 1), date(2020, 9, 1), date(2021, 9, 1)],
            "leaving_date": [None, date(2019, 1, 1), None],
            "status": "loaded",
        }
    )
    result = run_gate("pupils", roll, URN, EXTRACTED, "pupils_x")
    assert failed(result) == {
        "key: each pupil once in the roll": 2,
        "NC year: N1, N2, R or 1-14": 1,
        "leaving date: not before the entry date": 1,
    }
    assert not result["passed"]
    pair = [r for r in result["results"] if r["check"].startswith("leaving date")][0]
    assert pair["examples"] == [["2019-01-01", "2020-09-01"]]  # (leaving, entry) as ISO dates


def test_a_pending_delivery_keeps_every_column_the_gate_reads():
    """Only GATED_COLUMNS travel with a delivery pending its gate: they must hold every column
    a check reads, in both forms, besides the per-row columns the batch form derives."""
    derived = {DAYS_AFTER, DELIVERY, UPN_IN_DELIVERY, URN_IS_OWN}
    suites = {
        "marks": [_marks_checks(URN, EXTRACTED), _batch_checks("marks")],
        "pupils": [_roll_checks(URN), _batch_checks("pupils")],
    }
    for family, forms in suites.items():
        read = {c for checks in forms for c in _columns_read(checks)} - derived
        assert read <= set(GATED_COLUMNS[family]), family


def test_the_gate_reads_the_same_from_the_gated_columns_alone():
    frame = marks_frame([{}, {"upn": upn(2), "code": "Q9"}, {"upn": "A1", "status": "rejected"}])
    frame = frame.assign(source_file="registers_x.csv", source_row=[2, 3, 4], arrival_time=None)
    kept = gated_columns("long_csv", frame)
    assert list(kept.columns) == [c for c in frame.columns if c in GATED_COLUMNS["marks"]]
    assert "source_file" not in kept
    whole = run_gate("long_csv", frame, URN, EXTRACTED, "registers_x")
    assert run_gate("long_csv", kept, URN, EXTRACTED, "registers_x") == whole
    assert not whole["passed"]


def test_gx_does_not_fingerprint_the_frames_it_validates():
    """GX's pandas engine would hash every value of a gated frame into the batch's markers
    (attendance/heavy_imports.py: GX_FINGERPRINT_LIMIT); if GX renames its threshold, this
    says so instead of the gate silently paying for the hash again."""
    from attendance.heavy_imports import GX_FINGERPRINT_LIMIT, great_expectations
    from ingestion.quality_gate import _whole_dataframe, warm_up

    warm_up()
    great_expectations()
    from great_expectations.execution_engine import pandas_execution_engine

    assert pandas_execution_engine.HASH_THRESHOLD == GX_FINGERPRINT_LIMIT == 0
    batch = _whole_dataframe().get_batch(batch_parameters={"dataframe": marks_frame([{}])})
    assert "ge_load_time" in batch.batch_markers
    assert "pandas_data_fingerprint" not in batch.batch_markers
    # the gate's verdicts are unchanged by it: a clean delivery passes, a bad one fails
    assert run_gate("long_csv", marks_frame([{}]), URN, EXTRACTED, "registers_x")["passed"]
    assert not run_gate("long_csv", marks_frame([{"code": "Q9"}]), URN, EXTRACTED, "x")["passed"]


def test_gate_results_are_kept_per_delivery_and_shown_in_the_report(tmp_path):
    write_config(tmp_path)
    write_roll(tmp_path, [{"upn": upn(1)}, {"upn": upn(2)}], date(2025, 9, 1))
    d = date(2025, 9, 8)
    # 1 of 3 records has an unknown code: rejected by validation, and >5%: a gate warning.
    write_long_csv(
        tmp_path, d, [(upn(1), d, "AM", "/"), (upn(1), d, "PM", "Q9"), (upn(2), d, "AM", "/")]
    )
    from attendance.home import Home

    home = Home.resolve(tmp_path)
    ingest_academy(home, URN)
    ledger = json.loads((home.ledger_dir / URN / "registers_20250908T183000.json").read_text())
    assert ledger["gate"] == {
        "passed": True,
        "checks": 9,
        "failed_errors": [],
        "failed_warnings": ["delivery: at most 5% of its records rejected"],
    }
    gate_file = home.warehouse / "gate" / URN / "registers_20250908T183000.json"
    first = gate_file.read_bytes()
    kept = json.loads(first)
    assert kept["records"] == 3 and kept["passed"]
    rows = gate_rows(home, URN)
    assert list(rows["check"]) == ["delivery: at most 5% of its records rejected"]
    assert list(rows["unexpected_count"]) == [1]
    assert "## Quality gate checks that failed" in academy_markdown(home, URN)
    # Deterministic: re-running the gate on the same delivery writes the same bytes.
    (home.ledger_dir / URN / "registers_20250908T183000.json").unlink()
    ingest_academy(home, URN)
    assert gate_file.read_bytes() == first
