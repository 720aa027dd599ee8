"""The SPEC 5.2 measures on tiny hand-written registers, through the real stack (ingestion,
dbt on DuckDB, exports). Every expected value is worked out by hand in the comments.

Calendar (tests/builders.py): summer term to Fri 18 Jul 2025; autumn term from Mon 1 Sep 2025
with half term 27-31 Oct and an INSET day on Fri 14 Nov.
"""

from __future__ import annotations

from datetime import date

import pytest

from attendance.home import Home
from attendance.pipeline import run_day
from exports.warehouse import read_mart
from tests.builders import register_days, upn, write_config, write_long_csv, write_roll

pytestmark = pytest.mark.e2e

P1, P2, P3, P4, P5, P6, P7, P8 = (upn(i) for i in range(1, 9))
PUPILS = [P1, P2, P3, P4, P5, P6, P7, P8]
INSET = date(2025, 11, 14)


def planned_code(pupil: str, d: date, session: str) -> str:
    """The mark each pupil gets on first delivery (amendments are written separately)."""
    if d == INSET:
        return "#"
    present = "/" if session == "AM" else "\\"
    if pupil == P1 and d == date(2025, 9, 1):
        return "I"  # 2 sessions
    if pupil == P2 and d == date(2025, 9, 3) and session == "AM":
        return "I"  # 1 session; amended to O in the 15 Sep delivery
    if pupil == P3 and date(2025, 9, 1) <= d <= date(2025, 9, 5):
        return "I"  # 10 sessions
    if pupil == P4 and (
        date(2025, 9, 1) <= d <= date(2025, 9, 4) or (d == date(2025, 9, 5) and session == "AM")
    ):
        return "I"  # 9 sessions
    if pupil == P5 and d == date(2025, 9, 2) and session == "AM":
        return "N"  # amended to I in the 4 Sep delivery
    if pupil == P6:
        if d in (date(2025, 7, 8), date(2025, 7, 9)):
            return "O"  # 4 sessions, outside the 10-week window of 5 Nov
        if d == date(2025, 7, 15) or (d == date(2025, 7, 16) and session == "AM"):
            return "G"  # 3 sessions, the 10th school week back from 5 Nov
        if d == date(2025, 9, 10) and session == "AM":
            return "I"
        if d == date(2025, 10, 21) or (d == date(2025, 10, 22) and session == "AM"):
            return "O"  # 3 sessions
        if d == date(2025, 11, 4):
            return "U"  # 2 sessions
        if d == date(2025, 11, 5):
            return "O"  # 2 sessions
    if pupil == P7 and d >= date(2025, 11, 7):
        return "N"
    if pupil == P8 and (
        date(2025, 7, 10) <= d <= date(2025, 7, 18) or (date(2025, 9, 1) <= d <= date(2025, 9, 3))
    ):
        return "N"  # 7 school days before the summer, 3 after it
    return present


AMENDMENTS = {
    # delivery date: [(upn, mark date, session, new code)]
    date(2025, 9, 4): [(P5, date(2025, 9, 2), "AM", "I")],
    date(2025, 9, 15): [(P2, date(2025, 9, 3), "AM", "O")],
}


@pytest.fixture(scope="module")
def home(tmp_path_factory, monkeypatch_module) -> Home:
    root = tmp_path_factory.mktemp("tiny_home")
    write_config(root)
    write_roll(root, [{"upn": u} for u in PUPILS], date(2025, 4, 22))
    for d in register_days(date(2025, 7, 7), date(2025, 11, 21)):
        marks = [(u, d, s, planned_code(u, d, s)) for u in PUPILS for s in ("AM", "PM")]
        marks += AMENDMENTS.get(d, [])
        write_long_csv(root, d, marks)
    monkeypatch_module.setenv("ATTENDANCE_HOME", str(root))
    return Home.resolve(root)


def status_on(home: Home, run_date: date) -> dict[str, dict]:
    run_day(home, run_date, progress=lambda m: None)
    rows = read_mart(home, "select * from mart_pupil_status").to_dict("records")
    return {r["upn"]: r for r in rows}


def dfe_rows(home: Home, run_date: date) -> list[str]:
    d = run_date.isoformat()
    path = home.exports / "dfe" / d / f"9312001_attendance_{d}.csv"
    return path.read_text().splitlines()


def test_supersession_as_of_each_run_date(home):
    # On 3 Sep only the 2 Sep delivery is known: P5's 2 Sep AM is N (unauthorised).
    s = status_on(home, date(2025, 9, 3))
    assert s[P5]["unauthorised_absence_sessions"] == 1
    assert s[P5]["authorised_absence_sessions"] == 0
    # The 4 Sep delivery amends it to I: now authorised, and the DfE share for 4 Sep carries
    # it as an amended row beside the 16 marks dated 4 Sep (8 pupils x 2 sessions).
    s = status_on(home, date(2025, 9, 4))
    assert s[P5]["unauthorised_absence_sessions"] == 0
    assert s[P5]["authorised_absence_sessions"] == 1
    lines = dfe_rows(home, date(2025, 9, 4))
    assert lines[0] == "laestab,urn,upn,attendance_date,session,attendance_code,amended"
    assert len(lines) == 1 + 16 + 1
    assert f"9312001,140001,{P5},2025-09-02,AM,I,Y" in lines
    assert sum(line.endswith(",Y") for line in lines) == 1


def test_consecutive_unexplained_days_run_on_over_the_summer(home):
    # SPEC 5.2 counts back over school days, and the summer holiday has none. P8 is N every
    # session on Thu 10 and Fri 11 Jul and 14-18 Jul (7 days; present on Wed 9 Jul), then on
    # 1-3 Sep: 7 + 3 = 10 days on Wed 3 Sep -> CME referral due on the year's third day,
    # in the year's first (full) build. The year-to-date sums start again on 1 Sep.
    s = status_on(home, date(2025, 9, 3))
    assert s[P8]["consecutive_unexplained_days"] == 10
    assert s[P8]["cme_referral_due"]
    assert s[P8]["possible_sessions"] == 6 and s[P8]["unauthorised_absence_sessions"] == 6
    # Present on 4 Sep (an incremental build): the run ends.
    s = status_on(home, date(2025, 9, 4))
    assert s[P8]["consecutive_unexplained_days"] == 0
    assert not s[P8]["cme_referral_due"]


def test_pa_and_sa_exactly_at_threshold(home):
    # 1-12 Sep: 10 school days, 20 possible sessions for everyone.
    s = status_on(home, date(2025, 9, 12))
    assert s[P1]["possible_sessions"] == 20
    # P1: 2 of 20 = exactly 10.0% -> persistently absent; 90.0% attendance.
    assert s[P1]["absence_sessions"] == 2
    assert s[P1]["persistent_absentee"] and not s[P1]["severely_absent"]
    assert float(s[P1]["attendance_pct"]) == 90.0
    # P2: 1 of 20 = 5.0% -> not PA, but at risk (5% or more).
    assert not s[P2]["persistent_absentee"] and s[P2]["at_risk_of_pa"]
    # P3: 10 of 20 = exactly 50% -> severely absent.
    assert s[P3]["severely_absent"] and s[P3]["persistent_absentee"]
    # P4: 9 of 20 = 45% -> PA, not SA.
    assert s[P4]["persistent_absentee"] and not s[P4]["severely_absent"]
    assert float(s[P4]["absence_pct"]) == 45.0
    # Sessions to spare for P1: R = 2 x 64 school days left (15 Sep-19 Dec is 70 weekdays,
    # less 5 of half term and the INSET day) = 128; ceil((20 + 128) / 10) - 2 - 1 = 12.
    assert s[P1]["sessions_to_spare"] == 12
    # Bands (seed 002): 90.0% is 90-92.4%; 100% is 97.5-100%.
    assert s[P1]["band"] == "90-92.4%"
    assert s[P7]["band"] == "97.5-100%"


def test_rolling_window_spans_half_term_and_summer(home):
    # On Wed 5 Nov the 10 most recent school weeks are 3-7 Nov, the 8 autumn weeks before
    # half term, and 14-18 Jul (the summer holiday and half term are not school weeks).
    # P6 unauthorised in the window: 3 G (Jul) + 3 O (Oct) + 2 U + 2 O (Nov) = 10;
    # the 4 O of 8-9 Jul are outside. Absence adds the I of 10 Sep: 11.
    s = status_on(home, date(2025, 11, 5))
    assert s[P6]["rolling_unauthorised_sessions"] == 10
    assert s[P6]["rolling_absence_sessions"] == 11
    assert s[P6]["penalty_threshold_met"]
    # Year to date (from 1 Sep): 43 school days, 86 sessions; absence 1 + 3 + 2 + 2 = 8,
    # 9.3% -> not PA; attendance 78/86 = 90.697% -> 90.7.
    assert s[P6]["possible_sessions"] == 86
    assert s[P6]["absence_sessions"] == 8
    assert not s[P6]["persistent_absentee"]
    assert float(s[P6]["attendance_pct"]) == 90.7
    # P2's 3 Sep I became O in the 15 Sep delivery: unauthorised as of 5 Nov.
    assert s[P2]["unauthorised_absence_sessions"] == 1


def test_consecutive_unexplained_days_skip_the_inset_day(home):
    # P7 is N every session from Fri 7 Nov: 7, 10-13, (14 INSET skipped), 17-20 = 9 days on
    # Thu 20 Nov; 10 days on Fri 21 Nov -> CME referral due.
    s = status_on(home, date(2025, 11, 20))
    assert s[P7]["consecutive_unexplained_days"] == 9
    assert not s[P7]["cme_referral_due"]
    s = status_on(home, date(2025, 11, 21))
    assert s[P7]["consecutive_unexplained_days"] == 10
    assert s[P7]["cme_referral_due"]
    # By 21 Nov, 14-18 Jul and 1-5 Sep have left P6's window: 3 O (Oct) + 4 (Nov) = 7
    # unauthorised, plus the I of 10 Sep (week of 8 Sep, the 10th week back) = 8 absence.
    assert s[P6]["rolling_unauthorised_sessions"] == 7
    assert s[P6]["rolling_absence_sessions"] == 8


def test_rerun_of_a_past_date_is_byte_identical(home):
    # 12 Sep re-run after every later delivery (including the 15 Sep amendment of P2) has been
    # ingested: the outputs are those of 12 Sep, byte for byte.
    d = date(2025, 9, 12)
    run_day(home, d, progress=lambda m: None)
    first = {
        p: p.read_bytes() for p in sorted(home.exports.rglob(f"*{d.isoformat()}*")) if p.is_file()
    }
    status_on(home, date(2025, 11, 21))
    run_day(home, d, progress=lambda m: None)
    again = {
        p: p.read_bytes() for p in sorted(home.exports.rglob(f"*{d.isoformat()}*")) if p.is_file()
    }
    assert first.keys() == again.keys() and len(first) >= 4
    assert first == again
    s = read_mart(home, "select upn, unauthorised_absence_sessions from mart_pupil_status")
    assert dict(zip(s["upn"], s["unauthorised_absence_sessions"], strict=True))[P2] == 0


def test_dbt_unit_tests_run_here_not_in_the_daily_build(home):
    """The daily build leaves dbt's unit tests out (attendance/pipeline.py, PRODUCTION_BUILD:
    they check the models' logic on fixed inputs, not the day's data); they run here instead,
    every one of them, on a warehouse the daily build has just made."""
    import json

    from attendance.dbt_runner import DBT_PROJECT, target_path
    from attendance.pipeline import unit_tests

    defined = sum(
        p.read_text().count("\n  - name: ") for p in DBT_PROJECT.glob("models/*/unit_tests.yml")
    )

    run_day(home, date(2025, 11, 21), progress=lambda m: None)
    built = json.loads((target_path(home) / "run_results.json").read_text())["results"]
    kinds = {r["unique_id"].split(".")[0] for r in built}
    assert "unit_test" not in kinds and {"model", "test"} <= kinds
    unit_tests(home, date(2025, 11, 21))  # raises DbtFailed if any fails
    ran = json.loads((target_path(home) / "run_results.json").read_text())["results"]
    assert sorted(r["unique_id"].split(".")[0] for r in ran) == ["unit_test"] * defined
    assert defined >= 4
    assert all(r["status"] == "pass" for r in ran)
