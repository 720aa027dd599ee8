"""DuckDB keeps every row of the inserts dbt runs for `int_marks_current`'s full build.

DuckDB 2.0.0 could hide a transaction's inserted rows from the connection's later scans once
it committed. `count(*)` still answered from the table's metadata, and the rows were back when
the database was reopened; but every query in the same dbt run, which shares one connection,
read an empty table. Found on 5 December when a full build of `int_marks_current` one statement
a month (`marks_current_fill` in `dbt_project/macros/marks_current.sql`) left `fct_pupil_day`
and the stage table empty. What set it off was an `insert ... order by` that inserted nothing,
followed in the same transaction by another insert into the table of more than one row group
(122,880 rows), ordered or not; with DuckDB's default `preserve_insertion_order: true`, even a
table made empty by `create table as` and then filled by ordered inserts, which is how dbt
makes the table in a full refresh.

DuckDB 2.0.1 fixed it, and the project requires it (`pyproject.toml`). These tests state the
behaviour the build relies on, at the project's setting and at DuckDB's default, so an older
DuckDB installed by hand, or a regression in a later one, fails here by name instead of
emptying a trust's marts:
- an insert that follows an empty ordered insert keeps its rows;
- dbt's two sequences for `int_marks_current`'s full build (a full refresh; a full build over
  the kept table) keep every row.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from attendance.home import REPO_ROOT

ROWS = 300_000  # more than two row groups: 100,000 rows do not show it
SOURCE = f"select i as a, date '2025-09-01' + (i % 300)::int as d from range({ROWS}) r(i)"
AUTUMN = "d < date '2026-01-01'"  # two "months" of a build, each over a row group
SPRING = "d >= date '2026-01-01'"


def _project_setting() -> bool:
    """The `preserve_insertion_order` dbt runs DuckDB with (dbt_project/profiles.yml)."""
    profiles = yaml.safe_load(Path(REPO_ROOT / "dbt_project" / "profiles.yml").read_text())
    return profiles["attendance"]["outputs"]["embedded"]["settings"]["preserve_insertion_order"]


def _connection(preserve_insertion_order: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute(f"set preserve_insertion_order = {str(preserve_insertion_order).lower()}")
    con.execute(f"create table src as {SOURCE}")
    return con


def _scanned(con: duckdb.DuckDBPyConnection) -> tuple[int, int | None]:
    """What a query reads (not the metadata's count): the rows and the largest value."""
    return con.execute("select count(*), max(a) from t").fetchone()


def _fill_by_month_and_commit(con: duckdb.DuckDBPyConnection) -> None:
    """The post-hook's part (`marks_current_fill`): each month in date order, then commit."""
    for month in (AUTUMN, SPRING):
        con.execute(f"insert into t select * from src where {month} order by d")
    con.execute("commit")


def test_the_project_runs_duckdb_without_preserving_insertion_order():
    """For speed (profiles.yml says why): the inserts above are checked at both settings."""
    assert _project_setting() is False


@pytest.mark.parametrize("preserve_insertion_order", [False, True])
def test_an_empty_ordered_insert_does_not_hide_the_next_insert(preserve_insertion_order):
    con = _connection(preserve_insertion_order)
    con.execute("create table t as select * from src where false")
    con.execute("begin")
    con.execute("insert into t select * from src where d < date '2020-01-01' order by d")
    con.execute(f"insert into t select * from src where {SPRING} order by d")
    con.execute("commit")
    assert con.execute("select count(*) from t").fetchone()[0] > 0  # the metadata's count
    assert _scanned(con) == (
        con.execute(f"select count(*) from src where {SPRING}").fetchone()[0],
        ROWS - 1,
    )


@pytest.mark.parametrize("preserve_insertion_order", [False, True])
def test_a_full_refresh_keeps_every_month(preserve_insertion_order):
    """dbt's full refresh: the model's statement makes the table empty (`create table as`),
    renames it into place, and the post-hook inserts the months in order, one transaction."""
    con = _connection(preserve_insertion_order)
    con.execute("begin")
    con.execute("create table t__dbt_tmp as select * from src where false")
    con.execute("alter table t__dbt_tmp rename to t")
    _fill_by_month_and_commit(con)
    assert _scanned(con) == (ROWS, ROWS - 1)


@pytest.mark.parametrize("preserve_insertion_order", [False, True])
def test_a_full_build_over_the_kept_table_keeps_every_month(preserve_insertion_order):
    """A full build for another date over the kept table: the pre-hook empties it, dbt-duckdb's
    delete+insert merges the model's empty result from a temporary table, and the post-hook
    inserts the months in order, one transaction."""
    con = _connection(preserve_insertion_order)
    con.execute("create table t as select * from src")
    con.execute("begin")
    con.execute("delete from t")
    con.execute("create temp table t__dbt_tmp as select * from src where false")
    con.execute("delete from t where a in (select a from t__dbt_tmp)")
    con.execute("insert into t (a, d) (select a, d from t__dbt_tmp)")
    _fill_by_month_and_commit(con)
    assert _scanned(con) == (ROWS, ROWS - 1)
