"""The incremental marts equal a full build (dbt_project/macros/incremental.sql).

A generated trust is built school day by day, as the daily run does: each build keeps the
previous rows of the session, day, week, daily and stage models and recomputes only what
`int_pupil_changes` lists (the new day, plus the days a late correction touched). After some
of the days the same date is rebuilt with --full-refresh and every downstream table must hold
exactly the same rows. The generator re-delivers corrected marks for earlier days, so the
chain includes changes behind the run date; the dates jump a week and cross a half term.
"""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from attendance.dbt_runner import BUILD_FINGERPRINT, run_dbt
from attendance.home import Home
from attendance.pipeline import build, ingest, prepare
from exports.warehouse import read_mart

pytestmark = pytest.mark.e2e

# table -> key; every column is compared but built_on (the run date of the build that wrote
# the row: a full build stamps every row with D)
TABLES = {
    "int_marks_current": "urn, upn, mark_date, session",
    "fct_pupil_session": "urn, upn, mark_date, session",
    "fct_pupil_day": "urn, upn, mark_date",
    "int_pupil_week": "urn, upn, school_week_index",
    "int_pupil_daily": "urn, upn, calendar_date",
    "fct_pupil_stage_daily": "urn, upn, calendar_date",
    "fct_stage_events": "urn, upn, event_date",
    "mart_pupil_status": "urn, upn",
    "mart_dfe_share": "urn, upn, attendance_date, session",
}

BUILT_ON = {"int_pupil_daily", "fct_pupil_stage_daily"}

# Run dates in order: single days, a jump of a week (several new days at once), a run inside
# the half-term holiday (28 Oct - 1 Nov 2024: nothing new) and the first day back.
RUN_DATES = [
    date(2024, 10, 14),
    date(2024, 10, 15),
    date(2024, 10, 16),
    date(2024, 10, 17),
    date(2024, 10, 25),
    date(2024, 10, 29),
    date(2024, 11, 4),
    date(2024, 11, 5),
    date(2024, 11, 8),
]
END = RUN_DATES[-1]
COMPARE_ON = {date(2024, 10, 17), date(2024, 11, 4), END}


def tables(home: Home) -> dict[str, pd.DataFrame]:
    return {
        name: read_mart(
            home, f"select * exclude (built_on) from {name} order by {key}"
        ).reset_index(drop=True)
        if name in BUILT_ON
        else read_mart(home, f"select * from {name} order by {key}").reset_index(drop=True)
        for name, key in TABLES.items()
    }


def plan(home: Home) -> tuple[str, int, int]:
    """(mode, pupils recomputed, pupils with a correction behind the run date)."""
    row = read_mart(
        home,
        "select mode, (select count(*) from int_pupil_changes) as pupils, "
        "(select count(*) from int_pupil_changes where marks_from < run_date) as behind "
        "from int_build_plan",
    ).iloc[0]
    return str(row["mode"]), int(row["pupils"]), int(row["behind"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory, monkeypatch_module):
    """Build RUN_DATES in order; rebuild the COMPARE_ON dates in full after their own build."""
    from attendance.generate import generate_trust

    root = tmp_path_factory.mktemp("incremental_home")
    generate_trust(root, academies=2, pupils=160, start=date(2024, 9, 2), end=END, seed=5)
    monkeypatch_module.setenv("ATTENDANCE_HOME", str(root))
    monkeypatch_module.setenv("ATTENDANCE_INGEST_WORKERS", "1")
    home = Home.resolve(root)
    plans, compared = {}, {}
    for run_date in RUN_DATES:
        for urn in prepare(home):
            ingest(home, urn, run_date)
        build(home, run_date)
        plans[run_date] = plan(home)
        if run_date in COMPARE_ON:
            kept = tables(home)
            run_dbt(home, "build", run_date, extra=["--full-refresh"])
            compared[run_date] = (kept, tables(home))
    return home, plans, compared


def test_each_day_after_the_first_is_built_incrementally(chain):
    _, plans, _ = chain
    modes = [mode for mode, _, _ in plans.values()]
    assert modes[0] == "full" and set(modes[1:]) == {"incremental"}
    # inside the half term there is no new school day, and no pupil to recompute unless a
    # correction arrived
    assert plans[date(2024, 10, 29)][1] == plans[date(2024, 10, 29)][2]
    # some runs recompute pupils from a correction behind the run date, not just the new day
    assert sum(behind for _, _, behind in plans.values()) > 0


def test_no_build_leaves_tables_of_its_own_behind(chain):
    """dbt-duckdb builds a Python incremental model's rows (the stage model's) into a
    `__dbt_tmp` table it never drops (macros/stage_daily.sql, drop_python_temp_tables): after
    the chain's incremental builds and full refreshes none is left, nor any backup."""
    home, _, _ = chain
    left = read_mart(
        home,
        "select table_name from information_schema.tables "
        "where contains(table_name, '__dbt_tmp') or contains(table_name, '__dbt_backup')",
    )
    assert left["table_name"].tolist() == []


@pytest.mark.parametrize("run_date", sorted(COMPARE_ON))
def test_incremental_tables_equal_a_full_build(chain, run_date):
    _, _, compared = chain
    kept, full = compared[run_date]
    for name in TABLES:
        assert len(kept[name]) == len(full[name]), name
        pd.testing.assert_frame_equal(kept[name], full[name], check_dtype=False, obj=name)


def test_a_new_fingerprint_rebuilds_in_full(chain):
    """A changed policy, calendar or model version must not keep rows computed under the old
    one: the fingerprint `prepare` writes differs, so the next run builds in full."""
    home, plans, _ = chain
    (home.warehouse / BUILD_FINGERPRINT).write_text("a different configuration")
    build(home, END)
    assert plan(home)[0] == "full"
    build(home, END)  # the same fingerprint again: back to incremental, nothing to recompute
    assert plan(home) == ("incremental", 0, 0)


def test_key_tests_after_an_incremental_build_read_the_rows_it_wrote(chain):
    """After an incremental build the key test of a kept table reads only the changed pupils'
    rows from the date the model rewrites them from (macros/incremental.sql,
    written_this_run); after a full build, every row. Shown on a duplicate planted by hand in
    fct_pupil_day, with int_pupil_changes set by hand (runs after the chain's last build,
    an incremental one that changed no pupil)."""
    import duckdb

    from attendance.dbt_runner import DbtFailed

    home, _, _ = chain
    assert plan(home) == ("incremental", 0, 0)
    database = str(home.warehouse / "attendance.duckdb")

    def sql(statement: str, params: list | None = None) -> list:
        with duckdb.connect(database) as con:
            return con.execute(statement, params or []).fetchall()

    def key_test() -> None:
        run_dbt(home, "test", END, extra=["--select", "fct_pupil_day,test_name:promises"])

    urn, upn, day = sql(
        "select urn, upn, mark_date from fct_pupil_day "
        "where mark_date = date '2024-10-15' order by urn, upn limit 1"
    )[0]
    sql(
        "insert into fct_pupil_day select * from fct_pupil_day "
        "where urn = ? and upn = ? and mark_date = ?",
        [urn, upn, day],
    )

    def changed(marks_from: str) -> None:
        sql("delete from int_pupil_changes")
        sql(
            "insert into int_pupil_changes (urn, upn, changed_from, marks_from, in_grid) "
            "values (?, ?, date '2024-11-08', cast(? as date), true)",
            [urn, upn, marks_from],
        )

    key_test()  # the duplicate is in a kept row of a pupil this run did not change: not read
    changed("2024-10-16")  # the pupil changed, but only from the day after the duplicate
    key_test()
    changed("2024-10-15")  # rewritten from the duplicate's date on: it is read, and fails
    with pytest.raises(DbtFailed):
        key_test()
    sql("delete from int_pupil_changes")
    sql("update int_build_plan set mode = 'full'")  # after a full build every row is read
    with pytest.raises(DbtFailed):
        key_test()
    sql(
        "delete from fct_pupil_day where rowid = (select max(rowid) from fct_pupil_day "
        "where urn = ? and upn = ? and mark_date = ?)",
        [urn, upn, day],
    )
    key_test()


def test_stage_rows_whose_pupil_day_is_gone_are_dropped(chain):
    """The stage model's post-hook after an incremental build (macros/stage_daily.sql): a row
    of a changed pupil on or after its changed_from with no pupil-day in int_pupil_daily goes,
    as does any row after D; a row of an unchanged pupil stays (the plan's contract: those rows
    are as the previous run left them). Rows planted by hand on the half-term Wednesday (no
    school day) and after D; int_pupil_changes set by hand; runs after the chain's last build."""
    import duckdb

    from attendance.dbt_runner import run_dbt

    home, _, _ = chain
    database = str(home.warehouse / "attendance.duckdb")

    def sql(statement: str, params: list | None = None) -> list:
        with duckdb.connect(database) as con:
            return con.execute(statement, params or []).fetchall()

    (a_urn, a_upn), (b_urn, b_upn) = sql(
        "select distinct urn, upn from fct_pupil_stage_daily order by urn, upn limit 2"
    )
    half_term, after_d = date(2024, 10, 30), date(2024, 11, 11)
    for urn, upn, day in [
        (a_urn, a_upn, half_term),
        (b_urn, b_upn, half_term),
        (b_urn, b_upn, after_d),
    ]:
        sql(
            "insert into fct_pupil_stage_daily select * replace (cast(? as date) as calendar_date) "
            "from fct_pupil_stage_daily where urn = ? and upn = ? and calendar_date = ?",
            [day, urn, upn, END],
        )
    sql("update int_build_plan set mode = 'incremental'")
    sql("delete from int_pupil_changes")
    sql(
        "insert into int_pupil_changes (urn, upn, changed_from, marks_from, in_grid) "
        "values (?, ?, date '2024-10-28', date '2024-10-28', true)",
        [a_urn, a_upn],
    )
    run_dbt(home, "run", END, extra=["--select", "fct_pupil_stage_daily"])

    def planted(urn: str, upn: str, day: date) -> int:
        return sql(
            "select count(*) from fct_pupil_stage_daily "
            "where urn = ? and upn = ? and calendar_date = ?",
            [urn, upn, day],
        )[0][0]

    assert planted(a_urn, a_upn, half_term) == 0  # changed pupil, no pupil-day: gone
    assert planted(b_urn, b_upn, after_d) == 0  # after D: gone, whoever's
    assert planted(b_urn, b_upn, half_term) == 1  # unchanged pupil: as the last run left it
    assert planted(a_urn, a_upn, END) == 1  # A's real days are rebuilt, not lost


def test_promises_test_names_each_broken_promise_and_counts_its_rows(chain):
    """One `promises` data test per model (tests/generic/promises.sql) checks its key, its
    not-null columns, its parent keys and its row identity in one read. Planted by hand in
    mart_pupil_status (a table rebuilt whole every run), each broken promise is one row of
    the test's result with the number of rows breaking it, and dbt fails the test with their
    sum. The mart is rebuilt afterwards."""
    import duckdb

    from attendance.dbt_runner import DbtFailed, target_path

    home, _, _ = chain
    database = str(home.warehouse / "attendance.duckdb")
    with duckdb.connect(database) as con:
        keys = con.execute(
            "select urn, upn from mart_pupil_status where band is not null "
            "order by urn, upn limit 5"
        ).fetchall()
        where = "urn = ? and upn = ?"
        con.execute(f"update mart_pupil_status set laestab = null where {where}", keys[0])
        con.execute(f"update mart_pupil_status set laestab = null where {where}", keys[1])
        con.execute(f"update mart_pupil_status set band = 'no such band' where {where}", keys[2])
        con.execute(
            f"update mart_pupil_status set possible_sessions = possible_sessions + 1 where {where}",
            keys[3],
        )
        con.execute(
            f"insert into mart_pupil_status select * from mart_pupil_status where {where}", keys[4]
        )

    with pytest.raises(DbtFailed):
        run_dbt(home, "test", END, extra=["--select", "mart_pupil_status,test_name:promises"])
    results = json.loads((target_path(home) / "run_results.json").read_text())["results"]
    (result,) = results
    assert result["status"] == "fail" and result["failures"] == 5
    compiled = next(target_path(home).glob("compiled/**/promises_mart_pupil_status_*.sql"))
    with duckdb.connect(database, read_only=True) as con:
        broken = dict(con.execute(compiled.read_text()).fetchall())
    assert broken == {
        "laestab is null": 2,
        "band not in attendance_bands": 1,
        "identity does not hold": 1,
        "key (urn, upn) not unique": 1,
    }

    rebuild = ["--select", "mart_pupil_status", "--exclude-resource-type", "unit_test"]
    run_dbt(home, "build", END, extra=rebuild)  # rebuilt, and its promises hold again


def test_promises_key_checked_month_by_month_finds_every_duplicate(chain):
    """After a full build the `promises` test checks a key holding its date column month by
    month (`key_by_month`: one month's keys hashed at a time), plus the rows outside the kept
    months. A
    duplicate planted in a term month and one planted before the previous academic year
    began are both found; the table is restored afterwards."""
    import duckdb

    from attendance.dbt_runner import DbtFailed, target_path

    home, _, _ = chain
    run_dbt(home, "build", END, extra=["--full-refresh", "--exclude-resource-type", "unit_test"])
    database = str(home.warehouse / "attendance.duckdb")
    key = "urn = ? and upn = ? and mark_date = ?"
    with duckdb.connect(database) as con:
        assert con.execute("select mode from int_build_plan").fetchone()[0] == "full"
        urn, upn, day = con.execute(
            "select urn, upn, mark_date from fct_pupil_day order by urn, upn, mark_date limit 1"
        ).fetchone()
        con.execute(
            f"insert into fct_pupil_day select * from fct_pupil_day where {key}", [urn, upn, day]
        )
        con.execute(
            "insert into fct_pupil_day select * replace (date '2019-01-07' as mark_date) "
            f"from fct_pupil_day where {key}",
            [urn, upn, day],
        )
        con.execute(
            "insert into fct_pupil_day select * from fct_pupil_day where mark_date = '2019-01-07'"
        )

    with pytest.raises(DbtFailed):
        run_dbt(home, "test", END, extra=["--select", "fct_pupil_day,test_name:promises"])
    compiled = next(target_path(home).glob("compiled/**/promises_fct_pupil_day_*.sql"))
    sql_text = compiled.read_text()
    assert sql_text.count("union all") >= 12  # one part per kept month, and the rest
    with duckdb.connect(database) as con:
        broken = dict(con.execute(sql_text).fetchall())
        assert broken == {"key (urn, upn, mark_date) not unique": 2}
        kept = con.execute(f"select * from fct_pupil_day where {key} limit 1", [urn, upn, day])
        row = kept.fetchone()
        con.execute(f"delete from fct_pupil_day where {key}", [urn, upn, day])
        con.execute("delete from fct_pupil_day where mark_date = '2019-01-07'")
        marks = ", ".join("?" for _ in row)
        con.execute(f"insert into fct_pupil_day values ({marks})", list(row))
    run_dbt(home, "test", END, extra=["--select", "fct_pupil_day,test_name:promises"])


def test_a_home_moved_to_another_path_stays_incremental(chain, tmp_path):
    """The marks files the incremental models recorded are named relative to the marks folder:
    a home restored or mounted elsewhere (times kept, as `cp -a` or a volume does) builds
    incrementally, not from every file again, and to the same tables."""
    import shutil

    home, _, _ = chain
    moved = Home.resolve(shutil.copytree(home.root, tmp_path / "elsewhere", symlinks=True))
    before = tables(home)
    build(moved, END)
    assert read_mart(moved, "select mode from int_marks_current_build")["mode"].tolist() == [
        "incremental"
    ]
    assert plan(moved)[0] == "incremental"
    recorded = read_mart(moved, "select filename from stg_mark_versions_files")["filename"]
    assert not recorded.str.startswith("/").any()
    after = tables(moved)
    for name in TABLES:
        pd.testing.assert_frame_equal(before[name], after[name], check_dtype=False, obj=name)
