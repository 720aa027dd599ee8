"""Resuming the stage engine from a kept state equals computing the whole year (issue #4).

A daily run recomputes only the days that changed: for each pupil, the days from a split day c
on, from the state at the end of the pupil's last school day before c. Here the state is read
from the full computation's own rows, the way the dbt model reads it from the table it built
the previous day (stage, stage_since, school_days_at_stage of the last row before c; the
measures of the daily row on stage_since), and the resumed rows and events must be exactly
the full computation's rows and events from c on, for every reference policy and many splits.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from attendance.stages import KEY_COLUMNS, columns_read, compute_stages
from tests.test_stages import START_2025, START_2026, daily_frame, policy, pupil_rows

POLICIES = ["vale_millbrook", "stowe_valley", "four_six_ten", "banded_pathway", "ccs"]

# Stretches of register a pupil's year is made of: good runs let a pupil exit, bad ones climb
# the thresholds, steady poor attendance sits through review periods to escalations.
GOOD = ["/" * 10, "/" * 25, "/" * 40, "///h" * 5]
BAD = ["I" * 4, "IIIII", "h" * 8, "O/" * 6, "N" * 11, "////I" * 6, "/I" * 8, "OO"]


def register(rng: random.Random, days: int, good: float) -> str:
    """`days` marks of stretches, each good with probability `good`."""
    marks = ""
    while len(marks) < days:
        marks += rng.choice(GOOD if rng.random() < good else BAD)
    return marks[:days]


def generated_frame(seed: int, pupils: int = 16, days: int = 150) -> pd.DataFrame:
    """Pupils from always poor to mostly good; one joins late and one is off roll some days."""
    rng = random.Random(seed)
    rows = [
        pupil_rows(f"P{i:02d}", (2025, START_2025, register(rng, days, i / pupils)))
        for i in range(pupils)
    ]
    rows[1] = rows[1][37:]  # joins on school day 37: stage 0 since the year's first day
    rows[2] = [r for r in rows[2] if r["school_day_index"] % 17 not in (3, 4)]  # off roll
    return daily_frame(*rows)


def state_before(
    full: pd.DataFrame, daily: pd.DataFrame, split: dict[str, date], needed: list[str]
) -> pd.DataFrame:
    """Each pupil's state at the end of their last school day before their split day, in the
    split day's academic year, read from the full computation's rows as the dbt model reads
    its previous table: no earlier day means stage 0 since the year's first school day."""
    keys = ["urn", "upn", "calendar_date"]
    joined = full.astype({"urn": str, "upn": str}).merge(
        daily[[*keys, "academic_year", "school_day_index"]], on=keys
    )
    c = joined["upn"].map(split)
    year = (
        daily[daily["calendar_date"] >= daily["upn"].map(split)]
        .groupby("upn")["academic_year"]
        .min()
    )
    before = joined[
        (joined["calendar_date"] < c) & (joined["academic_year"] == joined["upn"].map(year))
    ]
    last = before.sort_values(keys).groupby("upn").tail(1).set_index("upn")
    firsts = daily.sort_values("school_day_index").groupby("academic_year").first()
    out = []
    for upn in split:
        if upn in last.index:
            row = last.loc[upn]
            state = {
                "stage": row["stage"],
                "stage_since": row["stage_since"],
                "stage_since_school_day_index": row["school_day_index"]
                - row["school_days_at_stage"],
            }
        else:
            first = firsts.loc[year[upn]]
            state = {
                "stage": 0,
                "stage_since": first["calendar_date"],
                "stage_since_school_day_index": first["school_day_index"],
            }
        out.append({"urn": daily["urn"].iloc[0], "upn": upn, **state})
    states = pd.DataFrame(out)
    # The entry day's measures, from the pupil's daily row on stage_since (none at stage 0).
    at_entry = daily[["upn", "calendar_date", *needed]].rename(
        columns={"calendar_date": "stage_since"}
    )
    states = states.merge(at_entry, on=["upn", "stage_since"], how="left")
    states[needed] = states[needed].astype(object).where(states["stage"] > 0, None)
    return states


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text: a resumed frame has fewer pupils, so other categories."""
    cat = frame.select_dtypes("category").columns
    return frame.astype({c: str for c in cat}).reset_index(drop=True)


Full = tuple[pd.DataFrame, pd.DataFrame]


def check_resume(
    daily: pd.DataFrame, pol: dict[str, Any], split: dict[str, date], full: Full | None = None
) -> None:
    full_rows, full_events = full or compute_stages(daily, pol)
    needed = [c for c in columns_read(pol, daily.columns) if c not in KEY_COLUMNS]
    initial = state_before(full_rows, daily, split, needed)
    starts = daily["upn"].map(split)
    resumed_daily = daily[daily["calendar_date"] >= starts]
    rows, events = compute_stages(resumed_daily, pol, initial)

    expect_rows = full_rows[full_rows["calendar_date"] >= full_rows["upn"].astype(str).map(split)]
    expect_events = full_events[full_events["event_date"] >= full_events["upn"].map(split)]
    pd.testing.assert_frame_equal(plain(rows), plain(expect_rows))
    if expect_events.empty:  # no moves from c on: the engine's empty frame, untyped
        assert events.empty and list(events.columns) == list(expect_events.columns)
    else:
        pd.testing.assert_frame_equal(plain(events), plain(expect_events))


@pytest.mark.parametrize("key", POLICIES)
def test_resuming_at_any_split_day_equals_the_full_year(key: str) -> None:
    pol = policy(key)
    daily = generated_frame(seed=POLICIES.index(key))
    full = full_rows, full_events = compute_stages(daily, pol)
    # The scenario is not trivial: pupils climb through escalations and exit.
    escalations = [s["stage"] for s in pol["stages"] if "escalation" in s]
    assert full_rows["stage"].max() >= 4
    assert (full_events["kind"] == "exit").sum() >= 3
    assert full_events["to_stage"].isin(escalations).sum() >= 5
    dates = sorted(daily["calendar_date"].unique())
    upns = sorted(daily["upn"].unique())
    # One split day for everyone, at every 7th day and the year's first and last days.
    for c in dates[::7] + [dates[1], dates[-1]]:
        check_resume(daily, pol, dict.fromkeys(upns, c), full)
    # A different split day per pupil, many times over.
    rng = np.random.default_rng(POLICIES.index(key))
    for _ in range(12):
        check_resume(daily, pol, {u: dates[int(rng.integers(len(dates)))] for u in upns}, full)


@pytest.mark.parametrize("key", POLICIES)
def test_resuming_on_entry_days_and_exit_days(key: str) -> None:
    """Splits right on and right after each move, where the kept state is a day old."""
    pol = policy(key)
    daily = generated_frame(seed=11)
    full = compute_stages(daily, pol)
    dates = sorted(daily["calendar_date"].unique())
    # Each pupil resumes on (then the day after) one of their own moves, the first one not
    # yet used, so every move of the year is a split of one of the runs.
    moves = full[1].groupby("upn")["event_date"].agg(list).to_dict()
    for k in range(max(len(m) for m in moves.values())):
        for after in (0, 1):
            split = {}
            for upn in daily["upn"].unique():
                mine = moves.get(upn, [])
                i = dates.index(mine[k]) + after if k < len(mine) else len(dates) - 1
                split[upn] = dates[min(i, len(dates) - 1)]
            check_resume(daily, pol, split, full)


def test_resuming_across_and_within_a_second_year() -> None:
    """A resume in the first year still resets at the second; one in the second year starts
    from that year's state (the rolling window carries over, the stage does not)."""
    pol = policy("stowe_valley")
    rng = random.Random(5)
    daily = daily_frame(
        *[
            pupil_rows(
                f"Q{i}",
                (2025, START_2025, register(rng, 60, i / 8)),
                (2026, START_2026, register(rng, 40, i / 8)),
            )
            for i in range(8)
        ]
    )
    dates = sorted(daily["calendar_date"].unique())
    upns = sorted(daily["upn"].unique())
    full = compute_stages(daily, pol)
    for c in [dates[5], dates[30], dates[59], dates[60], dates[61], dates[80]]:
        check_resume(daily, pol, dict.fromkeys(upns, c), full)
    first_year, second_year = dates[1:60], dates[60:]
    for days in (first_year, second_year):
        for k in range(6):
            split = {u: days[(7 * k + 3 * i) % len(days)] for i, u in enumerate(upns)}
            check_resume(daily, pol, split, full)


def test_resume_needs_one_state_per_pupil_entered_before_the_first_day() -> None:
    pol = policy("four_six_ten")
    daily = generated_frame(seed=3, pupils=3)
    dates = sorted(daily["calendar_date"].unique())
    full_rows, _ = compute_stages(daily, pol)
    needed = [c for c in columns_read(pol, daily.columns) if c not in KEY_COLUMNS]
    split = dict.fromkeys(daily["upn"].unique(), dates[50])
    initial = state_before(full_rows, daily, split, needed)
    resumed = daily[daily["calendar_date"] >= dates[50]]
    with pytest.raises(ValueError, match="one row per pupil"):
        compute_stages(resumed, pol, initial.iloc[1:])
    with pytest.raises(ValueError, match="one row per pupil"):
        compute_stages(resumed, pol, pd.concat([initial, initial.iloc[[0]]]))
    late = initial.assign(stage=1, stage_since=dates[60], stage_since_school_day_index=60)
    with pytest.raises(ValueError, match="before the pupil's first day"):
        compute_stages(resumed, pol, late)
    with pytest.raises(ValueError, match="missing columns"):
        compute_stages(resumed, pol, initial.drop(columns=["stage_since"]))
    # A state for a pupil who is not in the frame is not needed and is ignored.
    extra = pd.concat([initial, initial.iloc[[0]].assign(upn="ZZ")])
    pd.testing.assert_frame_equal(
        compute_stages(resumed, pol, extra)[0], compute_stages(resumed, pol, initial)[0]
    )


@pytest.mark.parametrize("key", POLICIES)
def test_academies_on_one_calendar_computed_together_equal_each_alone(key: str) -> None:
    """A full build computes the academies sharing a policy and a calendar in one call
    (fct_pupil_stage_daily: `_full_build_parts`). Each academy's rows and events must be
    those it gets alone, the same UPNs in both academies included (one academy's pupils
    never count in another's), whatever order the rows come in."""
    pol = policy(key)
    first = generated_frame(seed=11).assign(urn="100001")
    second = generated_frame(seed=12, pupils=12, days=120).assign(urn="100002")
    alone = [compute_stages(frame, pol) for frame in (first, second)]
    mixed = pd.concat([second, first]).sample(frac=1, random_state=3)
    rows, events = compute_stages(mixed, pol)
    assert len(rows) == len(first) + len(second)
    assert events["kind"].eq("exit").any() and (events["urn"] == "100002").any()
    pd.testing.assert_frame_equal(plain(rows), plain(pd.concat([a[0] for a in alone])))
    expect_events = pd.concat([a[1] for a in alone]).sort_values(
        ["event_date", "urn", "upn"], kind="stable"
    )
    pd.testing.assert_frame_equal(plain(events), plain(expect_events))
