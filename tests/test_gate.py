"""The gate's arrival check on hand-written ledgers: what counts as the delivery for D having
arrived (loaded, extracted on D), and what holds an academy back (nothing, an incomplete API
delivery, a rejected file), on days a register is due and on days it is not."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from attendance.calendar import SchoolCalendar
from attendance.config import CalendarSpec
from attendance.gate import delivery_problem
from attendance.home import Home
from ingestion import store

D = date(2025, 10, 14)  # a Tuesday in term
CALENDAR = SchoolCalendar(
    CalendarSpec(
        name="default",
        terms=((date(2025, 9, 3), date(2025, 12, 19)),),
        holidays=((date(2025, 10, 27), date(2025, 10, 31)),),
        closures=((date(2025, 11, 14), "INSET"),),
    )
)


def ledger(home: Home, key: str, kind: str, extracted_at: str, status: str) -> None:
    store.write_json(
        {"delivery": key, "kind": kind, "extracted_at": extracted_at, "status": status},
        home.ledger_dir / "140101" / f"{key}.json",
    )


@pytest.fixture
def home(tmp_path):
    h = Home(tmp_path)
    # the day before arrived and so did a roll on D: neither is D's register delivery
    ledger(h, "registers_20251013T183000", "long_csv", "2025-10-13T18:30:00", "loaded")
    ledger(h, "pupils_20251014T070000", "pupils", "2025-10-14T07:00:00", "loaded")
    return h


def test_no_delivery_extracted_on_d_is_late(home):
    assert delivery_problem(home, "140101", CALENDAR, D) == (
        "late: no register delivery extracted on 2025-10-14 has arrived"
    )


def test_a_loaded_delivery_extracted_on_d_has_arrived(home):
    ledger(home, "registers_20251014T183000", "long_csv", "2025-10-14T18:30:00", "loaded")
    assert delivery_problem(home, "140101", CALENDAR, D) is None


def test_an_incomplete_api_delivery_is_late(home):
    ledger(home, "attendance_20251014T183000", "api_json", "2025-10-14T18:30:00", "waiting")
    assert delivery_problem(home, "140101", CALENDAR, D) == (
        "late: the register delivery extracted on 2025-10-14 is incomplete (pages missing)"
    )


def test_a_rejected_delivery_is_held_back_with_its_reason(home):
    ledger(home, "registers_20251014T183000", "long_csv", "2025-10-14T18:30:00", "rejected")
    assert "rejected whole" in delivery_problem(home, "140101", CALENDAR, D)
    # a later good re-export the same evening supersedes it
    ledger(home, "registers_20251014T200000", "long_csv", "2025-10-14T20:00:00", "loaded")
    assert delivery_problem(home, "140101", CALENDAR, D) is None


def test_no_register_due_means_nothing_late(home):
    assert delivery_problem(home, "140101", CALENDAR, date(2025, 10, 28)) is None  # half term
    assert delivery_problem(home, "140101", CALENDAR, date(2025, 10, 18)) is None  # Saturday
    # an INSET day still has a register (marked '#'), so its delivery is expected
    assert delivery_problem(home, "140101", CALENDAR, date(2025, 11, 14)) is not None


def status_rows(urn: str, upns: list[str | None]) -> pd.DataFrame:
    """mart_pupil_status as the gate reads it (STATUS_SQL), for pupils with sound numbers."""
    n = len(upns)
    return pd.DataFrame(
        {
            "urn": [urn] * n,
            "upn": upns,
            "reg_group": ["7A"] * n,
            "possible_sessions": [100] * n,
            "attended_sessions": [90] * n,
            "authorised_absence_sessions": [6] * n,
            "unauthorised_absence_sessions": [4] * n,
            "absence_sessions": [10] * n,
            "sessions_unaccounted": [0] * n,
            "sessions_not_attended": [10] * n,
            "severe_not_persistent": [False] * n,
            "attendance_pct": [90.0] * n,
            "absence_pct": [10.0] * n,
            "persistent_absentee": [True] * n,
            "severely_absent": [False] * n,
        }
    )


def test_one_validation_of_every_academy_gives_each_academys_own_outcomes():
    """The gate validates all academies' rows at once; each academy's outcomes must be what
    validating its rows alone gives, counted by hand here: a UPN shared by two academies is
    no duplicate, an academy with no rows fails the row count, faults count where they are."""
    from attendance.gate import _Checkpoint, _outcomes

    a = status_rows("100001", ["A00000000001", "A00000000002", "A000000000033", None])
    b = status_rows("100002", ["B000000000001", "B000000000001", "B000000000002"])
    c = status_rows("100003", ["A000000000033", "C000000000001"])
    b.loc[2, "sessions_unaccounted"] = 3
    c.loc[1, "reg_group"] = None
    status = pd.concat([a, b, c], ignore_index=True)
    urns = ["100001", "100002", "100003", "100004"]

    together = _outcomes(status, urns)
    checkpoint = _Checkpoint()
    alone = {u: checkpoint.run(status[status["urn"] == u].reset_index(drop=True)) for u in urns}
    assert together == alone

    def failed(urn: str) -> dict:
        return {
            (o["expectation"], o["kwargs"].get("column")): o["unexpected_count"]
            for o in together[urn]
            if not o["success"]
        }

    assert failed("100001") == {
        ("expect_column_values_to_not_be_null", "upn"): 1,
        ("expect_column_value_lengths_to_equal", "upn"): 2,
    }
    assert failed("100002") == {
        ("expect_column_values_to_be_unique", "upn"): 2,
        ("expect_column_values_to_be_between", "sessions_unaccounted"): 1,
    }
    assert failed("100003") == {("expect_column_values_to_not_be_null", "reg_group"): 1}
    assert failed("100004") == {("expect_table_row_count_to_be_between", None): None}
    assert [o["element_count"] for o in together["100002"]][1:3] == [3, 3]
