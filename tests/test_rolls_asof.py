"""stg_rolls reads only each academy's latest snapshot extracted by D (macros/rolls.sql chooses
the files by name), and it is the same roll as the latest extraction among every snapshot's
rows: a snapshot whose every record was rejected (an empty file) leaves the previous one in
force, and a snapshot extracted after D is not known yet. Expected rolls are worked out by hand
from the snapshots written below, then checked against all the roll files read with DuckDB."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from attendance.home import Home
from attendance.pipeline import build, ingest, prepare
from exports.warehouse import read_mart
from tests.builders import register_days, upn, write_config, write_long_csv, write_roll

pytestmark = pytest.mark.e2e


def roll_as_of(home: Home) -> pd.DataFrame:
    return read_mart(home, "select upn, roll_extracted_at from stg_rolls order by upn")


def every_snapshot_latest(home: Home, d: date) -> list[str]:
    """The old reading, independently: every snapshot's rows, the latest extraction by D."""
    glob = str(home.warehouse / "rolls" / "*" / "*.parquet")
    with duckdb.connect() as con:
        rows = con.execute(
            f"""
            with known as (select * from read_parquet('{glob}')
                           where cast(extracted_at as date) <= date '{d}')
            select upn from known
            where extracted_at = (select max(extracted_at) from known)
            order by upn
            """
        ).fetchall()
    return [r[0] for r in rows]


def test_the_roll_is_the_latest_non_empty_snapshot_known_on_d(tmp_path, monkeypatch):
    write_config(tmp_path)
    write_roll(tmp_path, [{"upn": upn(1)}, {"upn": upn(2)}], date(2025, 8, 29))
    write_roll(tmp_path, [{"upn": upn(n)} for n in (1, 2, 3)], date(2025, 9, 3))
    # every record rejected (FSM must be Y or N): the file is written with no rows
    write_roll(tmp_path, [{"upn": upn(n), "fsm": "?"} for n in (1, 2)], date(2025, 9, 4))
    write_roll(tmp_path, [{"upn": upn(n)} for n in (1, 2, 3, 4)], date(2025, 9, 10))
    for d in register_days(date(2025, 9, 1), date(2025, 9, 10)):
        write_long_csv(tmp_path, d, [(upn(1), d, "AM", "/"), (upn(1), d, "PM", "\\")])
    monkeypatch.setenv("ATTENDANCE_HOME", str(tmp_path))
    home = Home.resolve(tmp_path)
    for urn in prepare(home):
        ingest(home, urn, date(2025, 9, 10))
    empty = home.rolls_dir / "140001" / "pupils_20250904T070000.parquet"
    assert empty.exists() and len(pd.read_parquet(empty)) == 0

    expected = {
        # D: (pupils on the roll, the snapshot in force)
        date(2025, 9, 2): ([1, 2], "2025-08-29 07:00:00"),
        date(2025, 9, 3): ([1, 2, 3], "2025-09-03 07:00:00"),
        date(2025, 9, 5): ([1, 2, 3], "2025-09-03 07:00:00"),  # 4 Sept was empty
        date(2025, 9, 10): ([1, 2, 3, 4], "2025-09-10 07:00:00"),
    }
    for d, (serials, snapshot) in expected.items():
        build(home, d)
        roll = roll_as_of(home)
        assert list(roll["upn"]) == sorted(upn(n) for n in serials), d
        assert {str(t) for t in roll["roll_extracted_at"]} == {snapshot}, d
        assert list(roll["upn"]) == every_snapshot_latest(home, d), d
