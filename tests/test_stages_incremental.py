"""The incremental stage table equals a full build (issue #4: a new day must not recompute
the year).

One home is built day by day, so from the second day on fct_pupil_stage_daily resumes the
changed pupils from the state it kept (late and amended marks make some pupils change from an
earlier day); another home, generated the same way, is built once for the last date. The stage
table and the events must be identical, row for row; so must a re-run of the same date and an
earlier date built after a later one (the plan falls back to a full build).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from attendance.home import Home
from attendance.pipeline import build, ingest, prepare
from exports.warehouse import read_mart

pytestmark = pytest.mark.e2e

DAYS = [date(2024, 10, 14), date(2024, 10, 15), date(2024, 10, 16)]


def _home(root: Path, monkeypatch_module) -> Home:
    from attendance.generate import generate_trust

    generate_trust(
        root,
        academies=2,
        pupils=80,
        start=date(2024, 9, 2),
        end=DAYS[-1],
        seed=5,
        truth_path=root.parent / f"{root.name}_truth.parquet",
    )
    monkeypatch_module.setenv("ATTENDANCE_HOME", str(root))
    return Home.resolve(root)


def _build(home: Home, run_date: date) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    for urn in prepare(home):
        ingest(home, urn, run_date)
    build(home, run_date)
    # every column but built_on, the run date of the build that wrote the row
    stages = read_mart(
        home,
        "select * exclude (built_on) from fct_pupil_stage_daily order by urn, upn, calendar_date",
    )
    events = read_mart(home, "select * from fct_stage_events order by urn, upn, event_date")
    mode = read_mart(home, "select mode from int_build_plan")["mode"].iloc[0]
    return stages, events, mode


@pytest.fixture(scope="module")
def builds(tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("stages_incremental")
    full = _home(root / "full", monkeypatch_module)
    once = _build(full, DAYS[-1])
    daily = _home(root / "daily", monkeypatch_module)
    steps = [_build(daily, d) for d in DAYS]
    again = _build(daily, DAYS[-1])
    earlier = _build(daily, DAYS[0])
    return once, steps, again, earlier


def _same(one, other) -> None:
    pd.testing.assert_frame_equal(one[0], other[0])
    pd.testing.assert_frame_equal(one[1], other[1])


def test_day_by_day_equals_one_full_build(builds):
    once, steps, _, _ = builds
    assert once[2] == "full" and [s[2] for s in steps] == ["full", "incremental", "incremental"]
    assert len(once[0]) > 1000 and once[0]["stage"].max() >= 2 and len(once[1]) > 10
    _same(steps[-1], once)


def test_rerun_and_an_earlier_date_after_a_later_one(builds):
    once, steps, again, earlier = builds
    assert again[2] == "incremental"
    _same(again, once)
    assert earlier[2] == "full"
    assert earlier[0]["calendar_date"].max() == pd.Timestamp(DAYS[0])
    _same(earlier, steps[0])
