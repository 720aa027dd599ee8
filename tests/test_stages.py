"""Stage classification against each reference policy's own words (SPEC 6).

Each scenario is a pupil's register written one character per school day, so the arithmetic
behind every asserted stage can be checked by hand in the comments next to it. School days
run Monday to Friday from Monday 1 September 2025 (no holidays: the engine only sees school
days), so school day i is in school week i // 5 and the rolling window is 50 school days of
whole weeks.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from attendance.config import load_policy
from attendance.home import REPO_ROOT, Home
from attendance.stages import EVENT_COLUMNS, STAGE_DAILY_COLUMNS, PolicyError, compute_stages

URN = "100001"
START_2025 = date(2025, 9, 1)  # a Monday
START_2026 = date(2026, 9, 7)  # the first Monday of September 2026

# One character per school day: (attended, authorised absence, unauthorised absence,
# unexplained) sessions of the day's two.
MARKS = {
    "/": (2, 0, 0, False),  # present AM and PM
    "I": (0, 2, 0, False),  # ill all day (authorised)
    "O": (0, 0, 2, False),  # unauthorised all day
    "N": (0, 0, 2, True),  # no reason given all day (unauthorised, unexplained)
    "h": (1, 1, 0, False),  # ill in the morning, present in the afternoon
}


def school_days(start: date, count: int) -> list[date]:
    days, day = [], start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def pupil_rows(upn: str, *years: tuple[int, date, str]) -> list[dict[str, Any]]:
    """The daily measures of one pupil, by plain arithmetic over the marks (SPEC 5.2).

    `years` are (academic year, first Monday, marks) in order; year-to-date figures restart
    each year, the rolling window (the 10 most recent school weeks) and the run of
    unexplained days do not, and school_day_index runs on across years.
    """
    rows: list[dict[str, Any]] = []
    weeks: list[date] = []  # Monday of each school week seen, in order
    week_abs: dict[date, int] = {}
    week_unauth: dict[date, int] = {}
    run = 0
    for academic_year, start, marks in years:
        marks = marks.replace(" ", "")
        possible = attended = absence = unauthorised = 0
        for day, mark in zip(school_days(start, len(marks)), marks, strict=True):
            att, auth, unauth, unexplained = MARKS[mark]
            possible += 2
            attended += att
            absence += auth + unauth
            unauthorised += unauth
            monday = day - timedelta(days=day.weekday())
            if not weeks or weeks[-1] != monday:
                weeks.append(monday)
            week_abs[monday] = week_abs.get(monday, 0) + auth + unauth
            week_unauth[monday] = week_unauth.get(monday, 0) + unauth
            window = weeks[-10:]
            rolling_absence = sum(week_abs[w] for w in window)
            rolling_unauth = sum(week_unauth[w] for w in window)
            run = run + 1 if unexplained else 0
            rows.append(
                {
                    "urn": URN,
                    "upn": upn,
                    "calendar_date": day,
                    "academic_year": academic_year,
                    "school_day_index": len(rows),
                    "possible_ytd": possible,
                    "attended_ytd": attended,
                    "absence_ytd": absence,
                    "unauthorised_ytd": unauthorised,
                    "attendance_pct_ytd": attended / possible * 100,
                    "absence_pct_ytd": absence / possible * 100,
                    "rolling_absence": rolling_absence,
                    "rolling_unauthorised": rolling_unauth,
                    "penalty_threshold_met": rolling_unauth >= 10,
                    "persistent_absentee": absence * 10 >= possible,
                    "severely_absent": absence * 2 >= possible,
                    "cme_referral_due": run >= 10,
                    "consecutive_unexplained_days": run,
                }
            )
    return rows


def daily_frame(*pupils: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([row for rows in pupils for row in rows])


def policy(key: str) -> dict[str, Any]:
    return load_policy(Home(REPO_ROOT), key)


def ladder(days: int, changes: dict[int, int]) -> list[int]:
    """Expected stage per school day: `changes` maps a day to the stage from that day on."""
    out, stage = [], 0
    for i in range(days):
        stage = changes.get(i, stage)
        out.append(stage)
    return out


def of(frame: pd.DataFrame, upn: str) -> pd.DataFrame:
    return frame[frame["upn"] == upn].reset_index(drop=True)


def moves(events: pd.DataFrame, upn: str) -> list[tuple[date, int, int, str]]:
    e = of(events, upn)
    return list(zip(e.event_date, e.from_stage, e.to_stage, e.kind, strict=True))


def day(i: int, start: date = START_2025) -> date:
    return school_days(start, i + 1)[i]


def check_actions(stages: pd.DataFrame, pol: dict[str, Any], entries: dict[int, int]) -> None:
    """The action is due exactly on the days a stage is entered, and is that stage's action."""
    actions = {s["stage"]: s["action"] for s in pol["stages"]}
    expected = ["" for _ in range(len(stages))]
    for i, stage in entries.items():
        expected[i] = actions[stage] if stage else ""
    assert list(stages["action_due"].astype(str)) == expected


# --------------------------------------------------------------------------- vale_millbrook


def test_vale_millbrook_ladder_review_periods_and_exit() -> None:
    pol = policy("vale_millbrook")
    # A: 5 full days, then ill every morning. After k half-days (day i = 4 + k) attendance is
    # (10 + k) / (10 + 2k).
    a = pupil_rows("A", (2025, START_2025, "/////" + "h" * 46))
    # B: one day ill on day 5, then present every day.
    b = pupil_rows("B", (2025, START_2025, "/////" + "I" + "/" * 8))
    stages, events = compute_stages(daily_frame(a, b), pol)

    a_changes = {
        5: 1,  # 11/12 = 91.7% < 92%: stage 1, informal chat
        # day 9: 4 school days at stage 1 (15/20 = 75%, worse) - the week is not over yet
        10: 2,  # 5 days at 1, 16/22 = 72.7% below 91.7% at entry ("decreased further")
        # day 19: only 9 days at stage 2
        20: 3,  # 10 days at 2, 26/42 = 61.9% no better than 72.7%: formal letter
        30: 4,  # 10 days at 3, 36/62 = 58.1% below 61.9%: parenting contract
        # day 49: 19 days into the contract's 20-day review
        50: 5,  # 20 days at 4, 56/102 = 54.9% no better than 58.1%: county referral
    }
    sa = of(stages, "A")
    assert list(sa["stage"]) == ladder(51, a_changes)
    check_actions(sa, pol, a_changes)
    assert sa.loc[50, "stage_name"] == "County referral"
    assert sa.loc[49, "school_days_at_stage"] == 19 and sa.loc[30, "school_days_at_stage"] == 0
    assert sa.loc[49, "stage_since"] == day(30)

    ea = of(events, "A")
    assert ea.loc[0, "reason"] == "Attendance 91.7% this year is below 92% (Stage 1 trigger)"
    assert ea.loc[1, "reason"] == (
        "5 school days at Stage 1 (Informal chat) and attendance 72.7% this year, "
        "down from 91.7% on 2025-09-08"
    )
    assert ea.loc[4, "reason"] == (
        "20 school days at Stage 4 (Parenting contract) and attendance 54.9% this year, "
        "no higher than 58.1% on 2025-10-13"
    )

    # B: 10/12 = 83.3% on day 5 -> stage 1. On day 10 (5 days at stage 1) attendance is
    # 20/22 = 90.9%, better than 83.3%: no contact stage. Day 11: 22/24 = 91.7%, still below
    # 92%. Day 12: 24/26 = 92.3% >= 92%: back to no action.
    sb = of(stages, "B")
    assert list(sb["stage"]) == ladder(14, {5: 1, 12: 0})
    check_actions(sb, pol, {5: 1})
    assert sb.loc[13, "stage_since"] == day(12) and sb.loc[13, "school_days_at_stage"] == 1
    assert moves(events, "B") == [(day(5), 0, 1, "entry"), (day(12), 1, 0, "exit")]
    exit_event = of(events, "B").loc[1]
    assert exit_event["reason"] == "Attendance 92.3% this year is at or above 92% (exit rule)"
    assert exit_event["stage_name"] == "No action"
    assert exit_event["action"] == pol["exit_action"]


# --------------------------------------------------------------------------- stowe_valley


def test_stowe_valley_ladder_review_periods_and_exit() -> None:
    pol = policy("stowe_valley")
    # A: 20 days present, 4 days ill (days 20-23), then "present 4 days, ill 1" for 16 school
    # weeks (days 24-103), then 5 days unauthorised (days 104-108).
    a = pupil_rows("A", (2025, START_2025, "/" * 20 + "IIII" + "////I" * 16 + "OOOOO"))
    # B: ill the first 4 days, then present.
    b = pupil_rows("B", (2025, START_2025, "IIII" + "/" * 47))
    stages, events = compute_stages(daily_frame(a, b), pol)

    a_changes = {
        22: 1,  # rolling absence 2, 4, 6 on days 20-22: 6 >= 6 ("at risk of reaching" 10)
        23: 2,  # rolling 8 >= 8 ("near to" 10); attendance at entry 40/48 = 83.3%
        # day 42: 19 days at stage 2
        43: 3,  # 20 days at 2: 72/88 = 81.8% (16 more days present in 20) no better: contract
        # day 102: 59 days at stage 3
        103: 4,  # 60 days at 3: 168/208 = 80.8% no better than 81.8%: formal warning
        # days 104-107: unauthorised sessions in the window 2, 4, 6, 8
        108: 5,  # 10 unauthorised sessions in 10 weeks: penalty threshold, at stage 4
    }
    sa = of(stages, "A")
    assert list(sa["stage"]) == ladder(109, a_changes)
    check_actions(sa, pol, a_changes)
    ea = of(events, "A")
    assert ea.loc[0, "reason"] == (
        "6 sessions of absence in the last 10 school weeks, at or above 6 (Stage 1 trigger)"
    )
    assert ea.loc[2, "reason"] == (
        "20 school days at Stage 2 (Early absence support) and attendance 81.8% this year, "
        "no higher than 83.3% on 2025-10-02"
    )
    assert ea.loc[4, "reason"].startswith("5 school days at Stage 4 (Warnings - concerns remain)")
    assert "penalty-notice threshold" in ea.loc[4, "reason"]

    # B: rolling 2, 4, 6 -> stage 1 on day 2; 8 -> stage 2 on day 3 (attendance 0/8 = 0%).
    # Day 23 (20 days at stage 2): 40/48 = 83.3% is better than 0%: no contract.
    # The four ill days are all in school week 0; on day 50 (week 10) the window is weeks
    # 1-10 and rolling absence is 0 < 6: back to no action.
    sb = of(stages, "B")
    assert list(sb["stage"]) == ladder(51, {2: 1, 3: 2, 50: 0})
    assert moves(events, "B") == [
        (day(2), 0, 1, "entry"),
        (day(3), 1, 2, "entry"),
        (day(50), 2, 0, "exit"),
    ]
    assert of(events, "B").loc[2, "reason"] == (
        "0 sessions of absence in the last 10 school weeks, below 6 (exit rule)"
    )


# --------------------------------------------------------------------------- four_six_ten


def test_four_six_ten_ladder_review_periods_and_exit() -> None:
    pol = policy("four_six_ten")
    # A: 10 days present, 5 days ill (days 10-14, all of school week 2), then alternately
    # present and ill ("/I") for 40 days.
    a = pupil_rows("A", (2025, START_2025, "/" * 10 + "IIIII" + "/I" * 20))
    # B: the same first 15 days, then present.
    b = pupil_rows("B", (2025, START_2025, "/" * 10 + "IIIII" + "/" * 46))
    stages, events = compute_stages(daily_frame(a, b), pol)

    a_changes = {
        11: 1,  # rolling 2 then 4: "letter ... when 4 sessions absence occurs"
        12: 2,  # rolling 6: absence support
        # day 13: rolling 8, still step 2
        14: 3,  # rolling 10: formalised support; attendance 20/30 = 66.7%
        # day 33: 19 days at step 3
        34: 4,  # 20 days at 3: (20 + 20) / (30 + 40) = 57.1% no better: warning
        # day 53: 19 days at step 4
        54: 5,  # 20 days at 4: 60/110 = 54.5% no better than 57.1%: legal action
    }
    sa = of(stages, "A")
    assert list(sa["stage"]) == ladder(55, a_changes)
    check_actions(sa, pol, a_changes)
    assert of(events, "A").loc[0, "reason"] == (
        "4 sessions of absence in the last 10 school weeks, at or above 4 (Stage 1 trigger)"
    )

    # B: steps 1, 2, 3 on days 11, 12, 14. Day 34: 60/70 = 85.7% better than 66.7%: no
    # warning. Day 60 is school week 12, the window is weeks 3-12 and holds none of the
    # absence of week 2: rolling 0 < 4, back to no action. Day 59 still has week 2 (10).
    sb = of(stages, "B")
    assert list(sb["stage"]) == ladder(61, {11: 1, 12: 2, 14: 3, 60: 0})
    assert [m[2] for m in moves(events, "B")] == [1, 2, 3, 0]


# --------------------------------------------------------------------------- banded_pathway


def test_banded_pathway_bands_escalation_and_exit() -> None:
    pol = policy("banded_pathway")
    # A: 20 days present (40/40), 3 days ill (days 20-22), then "unauthorised, present" x 5.
    a = pupil_rows("A", (2025, START_2025, "/" * 20 + "III" + "O/" * 5))
    # B: 20 days present, 2 days unauthorised (days 20-21), then present.
    b = pupil_rows("B", (2025, START_2025, "/" * 20 + "OO" + "/" * 20))
    stages, events = compute_stages(daily_frame(a, b), pol)

    a_changes = {
        # day 20: 40/42 = 95.2%, a good band
        21: 2,  # 40/44 = 90.9%: straight past band 1 to 90-92.4% (a threshold may jump)
        22: 3,  # 40/46 = 87.0% < 90%: persistent absence; unauthorised 0 at entry
        # day 31: 9 days at stage 3
        32: 4,  # 10 days at 3: 50/66 = 75.8% no better, unauthorised 10 > 0: final warning
    }
    sa = of(stages, "A")
    assert list(sa["stage"]) == ladder(33, a_changes)
    check_actions(sa, pol, a_changes)
    assert moves(events, "A")[0] == (day(21), 0, 2, "entry")
    assert of(events, "A").loc[2, "reason"] == (
        "10 school days at Stage 3 (Persistent absence - attendance does not improve "
        "(below 90%)) and attendance 75.8% this year, no higher than 87.0% on 2025-10-01 and "
        "10 sessions of unauthorised absence this year, up from 0 on 2025-10-01"
    )

    # B: day 21: 40/44 = 90.9% -> stage 2 (unauthorised 4 at entry). Day 31, 10 days on:
    # 60/64 = 93.8% and no new unauthorised absence: no final warning. Stays at 2 while in
    # band 1 (entry rules never move a pupil down). Day 38: 74/78 = 94.9% < 95%.
    # Day 39: 76/80 = 95.0% exactly, at or above 95%: back to no action.
    sb = of(stages, "B")
    assert list(sb["stage"]) == ladder(42, {21: 2, 39: 0})
    assert of(events, "B").loc[1, "reason"] == (
        "Attendance 95.0% this year is at or above 95% (exit rule)"
    )


# --------------------------------------------------------------------------- ccs


def test_ccs_ladder_review_periods_and_exit() -> None:
    pol = policy("ccs")
    # A: as Stowe Valley's A but ill 5 days (days 20-24) so the national threshold is met.
    a = pupil_rows("A", (2025, START_2025, "/" * 20 + "IIIII" + "////I" * 16 + "OOOOO"))
    # B: ill all of school week 0, then present.
    b = pupil_rows("B", (2025, START_2025, "IIIII" + "/" * 46))
    stages, events = compute_stages(daily_frame(a, b), pol)

    a_changes = {
        22: 1,  # rolling 6: "at risk of reaching the new National Threshold"
        # day 23: rolling 8 - Stowe Valley would be at step 2, CCS waits for the threshold
        24: 2,  # rolling 10: "the National Threshold for absence is met"; 40/50 = 80%
        44: 3,  # 20 days at 2: 72/90 = 80% exactly, equal is "not improved": EWO meeting
        104: 4,  # 60 days at 3: 168/210 = 80% again: first warning
        109: 5,  # unauthorised 10 sessions in 10 weeks at step 4: formal action
    }
    sa = of(stages, "A")
    assert list(sa["stage"]) == ladder(110, a_changes)
    check_actions(sa, pol, a_changes)
    assert of(events, "A").loc[1, "reason"] == (
        "10 sessions of absence in the last 10 school weeks, at or above 10 (Stage 2 trigger)"
    )

    # B: rolling 6 on day 2 (stage 1), 10 on day 4 (stage 2, 0/10 = 0%). Day 24: 40/50 = 80%
    # is better: no escalation. Day 50 (week 10): rolling 0 < 6, back to no action.
    sb = of(stages, "B")
    assert list(sb["stage"]) == ladder(51, {2: 1, 4: 2, 50: 0})
    assert [m[3] for m in moves(events, "B")] == ["entry", "entry", "exit"]


# --------------------------------------------------------------------------- year, order, gaps


def test_new_academic_year_resets_stages_without_an_event() -> None:
    pol = policy("vale_millbrook")
    # 2025: stage 1 on day 5 (11/12 = 91.7%), stage 2 on day 10 (16/22 = 72.7%).
    # 2026 starts on day 15: year-to-date figures restart, 100% for five days, then an ill day
    # (day 20): 10/12 = 83.3% -> stage 1 again, entered from 0.
    rows = pupil_rows("A", (2025, START_2025, "/////" + "h" * 10), (2026, START_2026, "/////I"))
    stages, events = compute_stages(daily_frame(rows), pol)
    assert list(stages["stage"]) == ladder(21, {5: 1, 10: 2, 15: 0, 20: 1})
    new_year = stages.iloc[15:20]
    assert list(new_year["stage_since"]) == [START_2026] * 5
    assert list(new_year["school_days_at_stage"]) == [0, 1, 2, 3, 4]
    assert list(new_year["action_due"].astype(str)) == [""] * 5
    assert moves(events, "A") == [
        (day(5), 0, 1, "entry"),
        (day(10), 1, 2, "entry"),
        (day(5, START_2026), 0, 1, "entry"),
    ]
    # Before any move the stage-0 "since" date is the first day of the year.
    assert stages.loc[0, "stage_since"] == START_2025


def test_rolling_window_carries_over_the_new_year() -> None:
    pol = policy("stowe_valley")
    # 2025: 26 days present, ill days 26-29: rolling 6 (stage 1, day 28), 8 (stage 2, day 29).
    # 2026 day 30: reset to 0, but the 10-week window still holds the 8 sessions (SPEC 5.2),
    # so the pupil goes straight back to stage 2, from 0, with a new action.
    rows = pupil_rows("A", (2025, START_2025, "/" * 26 + "IIII"), (2026, START_2026, "///"))
    stages, events = compute_stages(daily_frame(rows), pol)
    assert list(stages["stage"]) == ladder(33, {28: 1, 29: 2, 30: 2})
    assert stages.loc[30, "stage_since"] == START_2026
    assert stages.loc[30, "action_due"] == pol["stages"][1]["action"]
    assert moves(events, "A")[-1] == (START_2026, 0, 2, "entry")
    assert of(events, "A").loc[2, "reason"] == (
        "8 sessions of absence in the last 10 school weeks, at or above 8 (Stage 2 trigger)"
    )


def test_deterministic_whatever_the_row_order() -> None:
    pol = policy("stowe_valley")
    frame = daily_frame(
        pupil_rows("A", (2025, START_2025, "/" * 20 + "IIII" + "////I" * 16 + "OOOOO")),
        pupil_rows("B", (2025, START_2025, "IIII" + "/" * 47)),
        pupil_rows("C", (2025, START_2025, "/I" * 40)),
    )
    first = compute_stages(frame, pol)
    again = compute_stages(frame, pol)
    shuffled = compute_stages(frame.sample(frac=1, random_state=7), pol)
    for one, other in ((first, again), (first, shuffled)):
        pd.testing.assert_frame_equal(one[0], other[0])
        pd.testing.assert_frame_equal(one[1], other[1])
    assert list(first[0].columns) == STAGE_DAILY_COLUMNS
    assert list(first[1].columns) == EVENT_COLUMNS
    assert first[0][["upn", "calendar_date"]].equals(
        first[0][["upn", "calendar_date"]].sort_values(["upn", "calendar_date"])
    )


def test_categorical_keys_give_the_same_rows_in_text_order() -> None:
    # The stage model hands the engine urn and upn as categoricals whose categories are in
    # order of appearance (Arrow's dictionaries): the rows still come out in text order.
    pol = policy("stowe_valley")
    frame = daily_frame(
        pupil_rows("C", (2025, START_2025, "/I" * 40)),
        pupil_rows("A", (2025, START_2025, "/" * 20 + "IIII" + "////I" * 16 + "OOOOO")),
        pupil_rows("B", (2025, START_2025, "IIII" + "/" * 47)),
    )
    as_text = compute_stages(frame, pol)
    categorical = frame.assign(
        urn=pd.Categorical(frame["urn"]),
        upn=pd.Categorical(frame["upn"], categories=["C", "A", "B"]),
    )
    as_categories = compute_stages(categorical, pol)
    assert list(as_categories[0]["upn"].drop_duplicates()) == ["A", "B", "C"]
    for one, other in zip(as_text, as_categories, strict=True):
        pd.testing.assert_frame_equal(one, other)


def test_days_off_roll_change_nothing_and_the_review_still_counts_school_days() -> None:
    pol = policy("vale_millbrook")
    rows = pupil_rows("A", (2025, START_2025, "/////" + "h" * 10))
    # Not on roll on day 10, the day stage 1's 5-day review ends; day 11 is 6 school days
    # after entry and 17/24 = 70.8% is below 91.7%: escalates then.
    frame = daily_frame([r for r in rows if r["school_day_index"] != 10])
    stages, events = compute_stages(frame, pol)
    assert list(stages["calendar_date"]) == [day(i) for i in range(15) if i != 10]
    assert list(stages["stage"]) == [0] * 5 + [1] * 5 + [2] * 4
    assert stages.loc[10, "calendar_date"] == day(11)
    assert moves(events, "A")[1] == (day(11), 1, 2, "entry")
    assert of(events, "A").loc[1, "reason"].startswith("6 school days at Stage 1")


def test_percentages_are_compared_as_exact_fractions() -> None:
    # 57 of 100 sessions is exactly 57%, though 57 / 100 * 100 is 56.99999999999999 in floats.
    pol = {
        "key": "exact",
        "stages": [
            {
                "stage": 1,
                "name": "Low",
                "action": "Letter",
                "entry": {"measure": "attendance_pct_ytd", "op": "<", "value": 57},
            }
        ],
        "exit": {"measure": "attendance_pct_ytd", "op": ">=", "value": 99},
    }
    row = pupil_rows("A", (2025, START_2025, "/"))[0]
    row.update(possible_ytd=100, attended_ytd=57, attendance_pct_ytd=57 / 100 * 100)
    assert row["attendance_pct_ytd"] < 57
    stages, events = compute_stages(pd.DataFrame([row]), pol)
    assert list(stages["stage"]) == [0] and events.empty


def test_bad_input_is_refused() -> None:
    pol = policy("four_six_ten")
    frame = daily_frame(pupil_rows("A", (2025, START_2025, "////")))
    with pytest.raises(ValueError, match="more than one row"):
        compute_stages(pd.concat([frame, frame.iloc[[1]]]), pol)
    with pytest.raises(ValueError, match="rolling_absence"):
        compute_stages(frame.drop(columns=["rolling_absence"]), pol)
    with pytest.raises(PolicyError):
        compute_stages(frame, {**pol, "exit": {"measure": "nope", "op": "<", "value": 1}})
    empty_stages, empty_events = compute_stages(frame.iloc[:0], pol)
    assert list(empty_stages.columns) == STAGE_DAILY_COLUMNS and empty_stages.empty
    assert list(empty_events.columns) == EVENT_COLUMNS and empty_events.empty


def test_output_types() -> None:
    stages, events = compute_stages(
        daily_frame(pupil_rows("A", (2025, START_2025, "IIII/"))), policy("four_six_ten")
    )
    assert stages["stage"].dtype == np.int64
    assert stages["school_days_at_stage"].dtype == np.int64
    assert all(isinstance(d, date) for d in stages["stage_since"])
    assert list(stages["stage_name"].astype(str)) == [
        "No action",
        "Identify, assess and monitor each absence event",
        "Absence support",
        "Absence support",
        "Absence support",
    ]
    assert events["from_stage"].dtype == np.int64 and events["to_stage"].dtype == np.int64
