"""The data-quality report from hand-written ledger entries and issues (SPEC 7.5), and the
half-term and most-improved rules behind the pupils-to-praise sheet, on cases counted by hand."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from attendance.calendar import load_calendars
from attendance.config import load_trust
from attendance.home import Home
from exports.quality import quality_rows
from exports.trends import full_attendance, half_term_start, most_improved, weekly_queries
from tests.builders import URN, write_config


def _ledger(home: Home, key: str, extracted: str, **fields) -> None:
    folder = home.ledger_dir / URN
    folder.mkdir(parents=True, exist_ok=True)
    entry = {"urn": URN, "delivery": key, "kind": "long_csv", "extracted_at": extracted, **fields}
    (folder / f"{key}.json").write_text(json.dumps(entry))


def _issues(home: Home, key: str, extracted: str, reasons: list[str]) -> None:
    folder = home.warehouse / "issues" / URN
    folder.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(
        {
            "urn": URN,
            "delivery": key,
            "extracted_at": pd.Timestamp(extracted),
            "status": "rejected",
            "severity": "error",
            "reason": reasons,
            "something_new": 1,  # ingestion may add columns; the report must not care
        }
    )
    frame.to_parquet(folder / f"{key}.parquet")


def test_quality_counts_from_the_ledger_and_issues(tmp_path: Path) -> None:
    write_config(tmp_path)
    home = Home(tmp_path)
    # School days in the week of 17 Nov 2025: Mon 17 .. Fri 21 (builders' calendar).
    loaded = {"status": "loaded", "records_rejected": 0, "records_missing": 0, "warnings": 0}
    _ledger(home, "r17", "2025-11-17T18:30:00", records_loaded=40, **loaded)
    # 18 Nov's delivery came on the 19th, with 19th's marks: 18 is late, 19 has a delivery.
    _ledger(
        home,
        "r19",
        "2025-11-19T18:30:00",
        records_loaded=80,
        **{**loaded, "records_rejected": 3, "records_missing": 2, "warnings": 1},
        new_key_from_ingestion={"anything": True},
    )
    _ledger(home, "r20", "2025-11-20T07:00:00", status="rejected", reason="not a CSV")
    _ledger(home, "r21", "2025-11-21T18:30:00", status="waiting", reason="page 2 missing")
    _ledger(home, "r24", "2025-11-24T18:30:00", records_loaded=999, **loaded)  # after D
    _issues(home, "r19", "2025-11-19T18:30:00", ["unknown code 'Q9'"] * 2 + ["bad UPN"])
    _issues(home, "r20", "2025-11-20T07:00:00", ["whole delivery rejected: not a CSV"])
    _issues(home, "r24", "2025-11-24T18:30:00", ["after D"] * 5)
    # A roll snapshot's rejected rows are reasons too, named as the roll's (not in the counts
    # of register marks beside them).
    _issues(home, "pupils_20251118T070000", "2025-11-18T07:00:00", ["NC Year must be 1-14"])
    trust = load_trust(home)
    calendars = load_calendars(home, trust)
    # Only count school days from 17 Nov: pretend earlier ones were delivered.
    for d in calendars[URN].school_days:
        if date(2025, 9, 1) <= d < date(2025, 11, 17):
            _ledger(home, f"old{d:%m%d}", f"{d.isoformat()}T18:30:00", records_loaded=0, **loaded)
    rows = quality_rows(home, trust, date(2025, 11, 21), calendars, {URN: "gate: 3 errors"})
    row = rows.iloc[0].to_dict()
    old = sum(1 for d in calendars[URN].school_days if date(2025, 9, 1) <= d < date(2025, 11, 17))
    assert row["deliveries_received"] == old + 4
    assert row["deliveries_rejected"] == 1 and row["deliveries_waiting"] == 1
    assert row["records_loaded"] == 120 and row["records_rejected"] == 3
    assert row["missing_marks"] == 2 and row["warnings"] == 1
    assert row["rejection_reasons"] == (
        "unknown code 'Q9' (2); bad UPN (1); pupil roll: NC Year must be 1-14 (1); "
        "whole delivery rejected: not a CSV (1)"
    )
    # 20 Nov's only delivery was rejected and 21 Nov's is waiting for pages: neither counts.
    assert row["delivery_for_run_date"] == "N"
    assert row["school_days_without_delivery"] == 3  # 18, 20 and 21 Nov
    assert row["late_deliveries"] == 1  # 18 Nov: a later delivery (19 Nov) came
    assert row["held_back_reason"] == "gate: 3 errors"
    assert row["data_quality_status"] == "held back"
    assert "priority list" in row["exports_held_back"]


def test_a_delivery_rejected_whole_is_not_a_late_one(tmp_path: Path) -> None:
    """18 Nov's delivery came that evening and was rejected whole; 19 Nov's loaded. 18 Nov is
    a day without a delivery loaded, and a rejected delivery, but not a late one: the school
    sent it on time (SPEC 8: late is a delivery that has not arrived). 20 Nov's came on the
    21st: that one is late. On a D whose own delivery was rejected the academy's status is
    `errors`, not `late`; on a D with nothing at all it is `late`."""
    write_config(tmp_path)
    home = Home(tmp_path)
    loaded = {"status": "loaded", "records_rejected": 0, "records_missing": 0, "warnings": 0}
    trust = load_trust(home)
    calendars = load_calendars(home, trust)
    for d in calendars[URN].school_days:  # every school day before 17 Nov delivered
        if date(2025, 9, 1) <= d < date(2025, 11, 17):
            _ledger(home, f"old{d:%m%d}", f"{d.isoformat()}T18:30:00", records_loaded=0, **loaded)
    _ledger(home, "r17", "2025-11-17T18:30:00", records_loaded=40, **loaded)
    _ledger(home, "r18", "2025-11-18T18:30:00", status="rejected", reason="file_truncated")
    _ledger(home, "r19", "2025-11-19T18:30:00", records_loaded=40, **loaded)
    _ledger(home, "r21", "2025-11-21T07:00:00", records_loaded=80, **loaded)

    def row(d: date) -> dict:
        return quality_rows(home, trust, d, calendars, {}).iloc[0].to_dict()

    on_18 = row(date(2025, 11, 18))
    assert on_18["delivery_for_run_date"] == "N" and on_18["deliveries_rejected"] == 1
    assert on_18["data_quality_status"] == "errors"
    assert on_18["school_days_without_delivery"] == 1 and on_18["late_deliveries"] == 0
    on_19 = row(date(2025, 11, 19))
    assert on_19["delivery_for_run_date"] == "Y" and on_19["data_quality_status"] == "errors"
    assert on_19["school_days_without_delivery"] == 1 and on_19["late_deliveries"] == 0
    on_20 = row(date(2025, 11, 20))  # nothing extracted on the 20th (yet)
    assert on_20["delivery_for_run_date"] == "N" and on_20["data_quality_status"] == "late"
    assert on_20["school_days_without_delivery"] == 2 and on_20["late_deliveries"] == 0
    on_21 = row(date(2025, 11, 21))  # 20th: no delivery, then the 21st's: late
    assert on_21["school_days_without_delivery"] == 2  # 18 and 20 Nov
    assert on_21["late_deliveries"] == 1  # 20 Nov only; 18 Nov's came and was rejected


def test_half_term_starts_after_the_holiday_not_after_an_inset_day(tmp_path: Path) -> None:
    write_config(tmp_path)
    home = Home(tmp_path)
    cal = load_calendars(home, load_trust(home))[URN]
    # builders' calendar: half term 27-31 Oct 2025, INSET 14 Nov, term from 1 Sep.
    assert half_term_start(cal, date(2025, 11, 21)) == date(2025, 11, 3)
    assert half_term_start(cal, date(2025, 11, 14)) == date(2025, 11, 3)
    assert half_term_start(cal, date(2025, 10, 24)) == date(2025, 9, 1)


def _days(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "urn": URN,
                "upn": u,
                "mark_date": date.fromisoformat(d),
                "possible_sessions": p,
                "attended_sessions": a,
            }
            for u, d, p, a in rows
        ]
    )


def _daily(days: pd.DataFrame) -> pd.DataFrame:
    """int_pupil_daily as the model makes it from these day facts, every date of them a
    school day of its academy: each pupil on every one of them, with its sums to date."""
    grid = (
        days[["urn", "mark_date"]]
        .drop_duplicates()
        .merge(days[["urn", "upn"]].drop_duplicates(), on="urn")
    )
    daily = grid.merge(days, on=["urn", "upn", "mark_date"], how="left").fillna(
        {"possible_sessions": 0, "attended_sessions": 0}
    )
    daily = daily.sort_values(["urn", "upn", "mark_date"]).rename(
        columns={"mark_date": "calendar_date"}
    )
    for measure in ("possible", "attended"):
        daily[f"{measure}_ytd"] = daily.groupby(["urn", "upn"])[f"{measure}_sessions"].cumsum()
    return daily


def _praise_data(days: pd.DataFrame, events: pd.DataFrame, since: date, run_date: date) -> dict:
    """The praise queries of the export, run on an in-memory DuckDB holding these rows."""
    con = duckdb.connect()
    con.register("days_frame", days)
    con.register("events_frame", events)
    con.register("daily_frame", _daily(days))
    con.execute("create table fct_pupil_day as select * from days_frame")
    con.execute("create table fct_stage_events as select * from events_frame")
    con.execute("create table int_pupil_daily as select * from daily_frame")
    con.execute(
        "create table stg_calendar as select distinct urn, calendar_date, true as is_school_day "
        "from daily_frame"
    )
    queries = weekly_queries(run_date, {URN: since, "999999": since})
    keys = ("full", "improved_days", "stage_history")
    return {key: con.execute(*queries[key]).df() for key in keys}


def test_full_attendance_and_most_improved() -> None:
    days = []
    # P1: every session, P2 missed one; P3: 10 sessions at 60% before 6 Oct, 10 at 90% after.
    for i in range(5):
        day = f"2025-10-{i + 1:02d}"
        days += [("P1", day, 2, 2), ("P2", day, 2, 2 if i else 1)]
        days += [("P3", f"2025-09-{i + 22:02d}", 2, 2 if i < 3 else 0)]
        days += [("P3", f"2025-10-{i + 6:02d}", 2, 1 if i == 0 else 2)]
    frame = _days(days)
    frame.loc[len(frame)] = ["999999", "PX", date(2025, 10, 1), 2, 2]  # another school
    events = pd.DataFrame(
        [
            {"urn": URN, "upn": "P3", "event_date": date(2025, 10, 6), "event_kind": "entry"},
            {"urn": URN, "upn": "P3", "event_date": date(2025, 10, 9), "event_kind": "exit"},
            {"urn": URN, "upn": "P2", "event_date": date(2025, 10, 3), "event_kind": "entry"},
        ]
    )
    for column in ("stage", "stage_name", "action"):
        events[column] = None
    data = _praise_data(frame, events, date(2025, 10, 1), date(2025, 10, 10))
    full = full_attendance(data["full"], URN)
    assert set(full["upn"]) == {"P1"}  # P2 missed 1 Oct AM, P3 6 Oct PM
    later = full_attendance(
        _praise_data(frame, events, date(2025, 10, 7), date(2025, 10, 10))["full"], URN
    )
    assert set(later["upn"]) == {"P3"}  # P1 and P2 had no sessions then: nothing to praise
    improved = most_improved(data["improved_days"], data["stage_history"], URN)
    # P3: before 6/10 = 60.0%, since = 9/10 = 90.0%; P2 has under 10 sessions each side.
    assert improved.to_dict("records") == [
        {
            "upn": "P3",
            "intervention_date": date(2025, 10, 6),
            "before_pct": 60.0,
            "since_pct": 90.0,
            "change": 30.0,
            "back_to_stage_0": date(2025, 10, 9),
        }
    ]


def test_reasons_beyond_the_first_five_are_counted_by_kind(tmp_path: Path) -> None:
    """Reasons naming a value (a wrong check letter) are many texts of one kind: beyond the five
    most frequent they are totalled by reason code, not waved away as 'other reasons'."""
    write_config(tmp_path)
    home = Home(tmp_path)
    letters = [f"UPN check letter is '{c}', expected 'Z'" for c in "ABCDEFG"]
    reasons = [r for n, r in enumerate(letters) for _ in range(10 - n)]  # 10, 9, ... 4
    _issues(home, "r19", "2025-11-19T18:30:00", reasons + ["code 'ZZ' is not a DfE code"] * 2)
    _issues(home, "pupils_20251118T070000", "2025-11-18T07:00:00", ["NC Year must be 1-14"] * 3)
    trust = load_trust(home)
    rows = quality_rows(home, trust, date(2025, 11, 21), load_calendars(home, trust), {})
    shown = [f"{letters[n]} ({10 - n})" for n in range(5)]
    assert rows.iloc[0]["rejection_reasons"] == "; ".join(shown) + (
        "; and 4 other reasons (upn_invalid: 9, pupil roll: roll_field_invalid: 3, code_unknown: 2)"
    )
