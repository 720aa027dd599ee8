"""The state a daily run resumes each changed pupil from (fct_pupil_stage_daily's
`_kept_states`), on a small warehouse built by hand.

The model looks for a pupil's last kept day in the days just before its changed_from first, and
over all its kept days only when there is none there: a pupil back after a break longer than
that window (the Christmas holiday) must still resume from the stage it had, not start again
at stage 0; a pupil new to the grid starts at stage 0 on the year's first school day.
"""

from __future__ import annotations

import importlib.util
from datetime import date, timedelta

import duckdb
import pandas as pd

from attendance.home import REPO_ROOT

MODEL = REPO_ROOT / "dbt_project" / "models" / "marts" / "fct_pupil_stage_daily.py"
URN = "100001"


def _model():
    spec = importlib.util.spec_from_file_location("fct_pupil_stage_daily", MODEL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Relation:
    """What the model reads of a dbt relation: its SQL and its columns."""

    def __init__(self, con: duckdb.DuckDBPyConnection, table: str) -> None:
        self.table = table
        self.columns = [row[0] for row in con.execute(f"describe {table}").fetchall()]

    def sql_query(self) -> str:
        return f"select * from {self.table}"


def _school_days(first: date, last: date, holiday: tuple[date, date]) -> list[date]:
    days, d = [], first
    while d <= last:
        if d.weekday() < 5 and not holiday[0] <= d <= holiday[1]:
            days.append(d)
        d += timedelta(days=1)
    return days


def _kept(
    days: list[date], index: dict[date, int], upn: str, stage: int, since: date, until: date
) -> list[dict]:
    """A pupil's kept stage rows to `until`: stage 0 from the year's first day, `stage` from
    `since` on."""
    return [
        {
            "urn": URN,
            "upn": upn,
            "calendar_date": d,
            "stage": stage if d >= since else 0,
            "stage_since": since if d >= since else days[0],
            "school_days_at_stage": index[d] - index[since] if d >= since else index[d] - 1,
        }
        for d in days
        if d <= until
    ]


def test_a_pupil_back_after_a_long_break_resumes_from_the_kept_state():
    model = _model()
    christmas = (date(2024, 12, 23), date(2025, 1, 3))
    days = _school_days(date(2024, 9, 2), date(2025, 1, 7), christmas)
    index = {d: i for i, d in enumerate(days, start=1)}
    before_break = date(2024, 12, 20)  # a Friday; school resumes on Monday 6 January
    con = duckdb.connect()
    daily = pd.DataFrame(
        [
            {"urn": URN, "upn": upn, "calendar_date": d, "school_day_index": index[d]}
            for upn in ("A", "B")
            for d in days
        ]
        # C: new, first marked on 7 January
        + [{"urn": URN, "upn": "C", "calendar_date": days[-1], "school_day_index": index[days[-1]]}]
    )
    con.register("daily_frame", daily)
    con.execute("create table int_pupil_daily as select * from daily_frame")
    # A: at stage 2 since 2 December, kept up to the last day before Christmas.
    # B: at stage 1 since 16 December, kept up to Monday 6 January.
    kept = _kept(days, index, "A", stage=2, since=date(2024, 12, 2), until=before_break)
    kept += _kept(days, index, "B", stage=1, since=date(2024, 12, 16), until=date(2025, 1, 6))
    con.register("kept_frame", pd.DataFrame(kept))
    con.execute("create table fct_pupil_stage_daily as select * from kept_frame")
    changes = pd.DataFrame(
        {
            "urn": [URN, URN, URN],
            "upn": ["A", "B", "C"],
            "changed_from": [date(2025, 1, 6), date(2025, 1, 7), date(2025, 1, 7)],
            "in_grid": [True, True, False],
        }
    )
    con.register("changes_frame", changes)
    con.execute("create table int_pupil_changes as select * from changes_frame")
    calendar = pd.DataFrame(
        [
            {"urn": URN, "calendar_date": d, "is_school_day": True, "school_day_index": index[d]}
            for d in days
        ]
    )
    con.register("calendar_frame", calendar)
    con.execute("create table stg_calendar as select * from calendar_frame")

    states = model._kept_states(
        con,
        _Relation(con, "int_pupil_daily"),
        _Relation(con, "int_pupil_changes"),
        _Relation(con, "stg_calendar"),
        days[-1],
        "fct_pupil_stage_daily",
        [],
    )
    got = states.set_index("upn").sort_index()
    assert (date(2025, 1, 6) - before_break).days > model.KEPT_WINDOW_DAYS
    assert got.loc["A", "stage"] == 2
    assert pd.Timestamp(got.loc["A", "stage_since"]) == pd.Timestamp(2024, 12, 2)
    assert got.loc["A", "stage_since_school_day_index"] == index[date(2024, 12, 2)]
    assert got.loc["B", "stage"] == 1
    assert pd.Timestamp(got.loc["B", "stage_since"]) == pd.Timestamp(2024, 12, 16)
    assert got.loc["B", "stage_since_school_day_index"] == index[date(2024, 12, 16)]
    assert got.loc["C", "stage"] == 0
    assert pd.Timestamp(got.loc["C", "stage_since"]) == pd.Timestamp(days[0])
    assert got.loc["C", "stage_since_school_day_index"] == 1
