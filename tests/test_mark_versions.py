"""stg_mark_versions, the marks parquet files copied into the warehouse file by file
(dbt_project/macros/mark_versions.sql): after every build it holds exactly the rows of the
files present, whether a build appended the new files' rows or read every file again because a
recorded file was replaced. Checked against the files themselves, read with DuckDB."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from attendance.home import Home
from attendance.pipeline import build, ingest, prepare
from exports.warehouse import read_mart
from ingestion import store
from tests.builders import register_days, upn, write_config, write_long_csv, write_roll

pytestmark = pytest.mark.e2e

PUPILS = [upn(1), upn(2)]
ORDER = "urn, upn, mark_date, session, extracted_at, source_file, source_row"


def present(d: date) -> list[tuple[str, date, str, str]]:
    return [(u, d, s, "/" if s == "AM" else "\\") for u in PUPILS for s in ("AM", "PM")]


def in_files(home: Home, columns: list[str]) -> pd.DataFrame:
    """The files' rows, in the table's columns (the model keeps the ones the marts read)."""
    glob = str(home.warehouse / "marks" / "*" / "*.parquet")
    with duckdb.connect() as con:
        return con.execute(
            f"select {', '.join(columns)} from read_parquet('{glob}') order by {ORDER}"
        ).df()


def same_rows(home: Home) -> pd.DataFrame:
    table = in_table(home)
    pd.testing.assert_frame_equal(table, in_files(home, list(table.columns)), check_dtype=False)
    return table


def in_table(home: Home) -> pd.DataFrame:
    return read_mart(home, f"select * from stg_mark_versions order by {ORDER}")


def files_read(home: Home) -> int:
    return int(read_mart(home, "select count(*) as n from stg_mark_versions_files")["n"].iloc[0])


def run(home: Home, d: date) -> None:
    for urn in prepare(home):
        ingest(home, urn, d)
    build(home, d)


def test_the_table_holds_exactly_the_rows_of_the_files(tmp_path, monkeypatch):
    write_config(tmp_path)
    write_roll(tmp_path, [{"upn": u} for u in PUPILS], date(2025, 8, 29))
    for d in register_days(date(2025, 9, 1), date(2025, 9, 5)):
        write_long_csv(tmp_path, d, present(d))
    monkeypatch.setenv("ATTENDANCE_HOME", str(tmp_path))
    home = Home.resolve(tmp_path)

    run(home, date(2025, 9, 5))  # the first build reads every file: 5 deliveries
    assert files_read(home) == 5 and len(in_table(home)) == 5 * 4
    same_rows(home)

    # a new delivery: its rows are appended
    write_long_csv(tmp_path, date(2025, 9, 8), present(date(2025, 9, 8)))
    run(home, date(2025, 9, 8))
    assert files_read(home) == 6 and len(in_table(home)) == 6 * 4
    same_rows(home)

    # a recorded file replaced (as re-ingestion does, by rename): every file is read again,
    # and the replaced file's rows are the new ones
    path = sorted((home.warehouse / "marks").rglob("*20250902T*.parquet"))[0]
    frame = pd.read_parquet(path)
    frame.loc[0, "code"] = "I"
    store.write_parquet(frame, path, store.MARKS_SCHEMA)
    build(home, date(2025, 9, 8))
    assert files_read(home) == 6
    table = same_rows(home)
    assert (table["code"] == "I").sum() == 1
