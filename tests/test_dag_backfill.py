"""A backfill over several days (`attendance backfill`, the same pipeline functions as the DAG)
gives each date's outputs as they would have been on that date: the landing area already holds
later deliveries (amendments included), yet every day's LA share agrees with the independent
calculation as of that day, and the quality gate ran for each day."""

from __future__ import annotations

import csv
import json
from datetime import date

import pandas as pd
import pytest

from attendance.cli import main
from tests.independent import year_to_date


@pytest.mark.e2e
def test_cli_backfill_gives_each_day_as_of_that_day(tmp_path):
    from attendance.generate import generate_trust

    home = tmp_path / "home"
    truth_path = tmp_path / "truth.parquet"
    generate_trust(
        home,
        academies=2,
        pupils=200,
        start=date(2025, 9, 1),
        end=date(2025, 9, 26),
        seed=11,
        truth_path=truth_path,
    )
    # Saturday the 20th is no school day: three runs, in order
    assert (
        main(["backfill", "--home", str(home), "--start", "2025-09-18", "--end", "2025-09-22"]) == 0
    )

    truth = pd.read_parquet(truth_path)
    days = [date(2025, 9, 18), date(2025, 9, 19), date(2025, 9, 22)]
    assert sorted(p.name for p in (home / "exports" / "trust").iterdir()) == [
        d.isoformat() for d in days
    ]
    possible_by_day = []
    for d in days:
        expected = year_to_date(truth, d).set_index(["urn", "upn"])
        rows = []
        for path in (home / "exports" / "la").glob(f"*/{d}/pupil_attendance_*_{d}.csv"):
            with path.open(newline="", encoding="utf-8") as fh:
                rows += list(csv.DictReader(fh))
        assert len(rows) > 150
        for row in rows:
            exp = expected.loc[(row["urn"], row["upn"])]
            assert int(row["possible_sessions"]) == exp["possible"]
            assert int(row["attended_sessions"]) == exp["attended"]
            assert int(row["unauthorised_absence_sessions"]) == exp["unauthorised"]
        possible_by_day.append(sum(int(r["possible_sessions"]) for r in rows))
        gate = json.loads((home / "warehouse" / "gate" / str(d) / f"gate_{d}.json").read_text())
        assert gate["held_back"] == {}
        assert len(list((home / "exports" / "dfe" / str(d)).glob("*.csv"))) == 2
    # each day adds that day's sessions: the later deliveries did not leak into earlier days
    assert possible_by_day[0] < possible_by_day[1] < possible_by_day[2]
