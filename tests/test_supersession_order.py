"""Supersession's order (SPEC 4) in int_marks_current, in a full build and an incremental one.

For each academy, pupil, date and session the version from the latest extraction known on D
wins; ties go to the later file name, then the later row. A full build ranks by one number
made of the three (`latest_version_number` in macros/marks_current.sql), an incremental one
by the three columns: both must pick the same winners. The marks files are written here
directly, as ingestion writes them, so that two files can share an extraction time (no
landing format's file names allow that within one academy) and one file can hold a key twice.
"""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from attendance.dbt_runner import run_dbt
from attendance.home import Home
from exports.warehouse import read_mart
from ingestion.store import MARKS_SCHEMA, write_arrow

pytestmark = pytest.mark.e2e

URN = "100001"
MARK_DATE = date(2025, 10, 1)


def deliver(home: Home, file_name: str, extracted_at: datetime, marks: list[tuple]) -> None:
    """One delivery's marks file: (upn, session, code, row) each."""
    delivery = file_name.rsplit(".", 1)[0]
    rows = [
        {
            "urn": URN,
            "upn": upn,
            "mark_date": MARK_DATE,
            "session": session,
            "code": code,
            "source_code": code,
            "minutes_late": None,
            "arrival_time": None,
            "source_file": file_name,
            "source_row": row,
            "delivery": delivery,
            "extracted_at": extracted_at,
        }
        for upn, session, code, row in marks
    ]
    path = home.warehouse / "marks" / URN / f"{delivery}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_arrow(pa.Table.from_pylist(rows, schema=MARKS_SCHEMA), path)


def winners(home: Home, run_date: date, full: bool) -> dict[tuple[str, str], str]:
    run_dbt(
        home,
        "run",
        run_date,
        extra=["--select", "+int_marks_current", *(["--full-refresh"] if full else [])],
    )
    table = read_mart(home, "select upn, session, code, source_file from int_marks_current")
    return {(r.upn, r.session): f"{r.code} {r.source_file}" for r in table.itertuples()}


def test_latest_extraction_then_later_file_name_then_later_row(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENDANCE_HOME", str(tmp_path))
    home = Home.resolve(tmp_path)
    ten, eleven = datetime(2025, 10, 1, 10), datetime(2025, 10, 1, 11)
    # A1 AM: both files extracted at ten, so the later name wins (b over a).
    # A1 PM: a is extracted later than b, so a wins although its name sorts first.
    # A2 AM: at ten in two files, the later name (c) twice, so c's later row wins.
    deliver(home, "a_registers.csv", eleven, [("A1", "PM", "L", 3)])
    deliver(home, "a_registers_ten.csv", ten, [("A1", "AM", "N", 2), ("A2", "AM", "B", 8)])
    deliver(home, "b_registers.csv", ten, [("A1", "AM", "/", 2), ("A1", "PM", "M", 3)])
    deliver(home, "c_registers.csv", ten, [("A2", "AM", "I", 9), ("A2", "AM", "E", 4)])

    day_one = {
        ("A1", "AM"): "/ b_registers.csv",
        ("A1", "PM"): "L a_registers.csv",
        ("A2", "AM"): "I c_registers.csv",
    }
    assert winners(home, date(2025, 10, 2), full=True) == day_one

    # The next day: a file extracted at ten again, named later than b (it wins A1 AM),
    # and one extracted that morning (it wins A1 PM); ranked incrementally, then in full.
    deliver(home, "d_registers.csv", ten, [("A1", "AM", "R", 5)])
    deliver(home, "0_registers.csv", datetime(2025, 10, 2, 9), [("A1", "PM", "P", 1)])
    day_two = {
        ("A1", "AM"): "R d_registers.csv",
        ("A1", "PM"): "P 0_registers.csv",
        ("A2", "AM"): "I c_registers.csv",
    }
    assert winners(home, date(2025, 10, 3), full=False) == day_two
    mode = read_mart(home, "select mode from int_marks_current_build")["mode"].iloc[0]
    assert mode == "incremental"
    assert winners(home, date(2025, 10, 3), full=True) == day_two

    # Back to 1 October without --full-refresh: the kept table is emptied and ranked again in
    # full, as known then (d was extracted that day, the file of 2 October was not yet).
    day_one_again = {**day_one, ("A1", "AM"): "R d_registers.csv"}
    assert winners(home, date(2025, 10, 1), full=False) == day_one_again
    mode = read_mart(home, "select mode from int_marks_current_build")["mode"].iloc[0]
    assert mode == "full"
