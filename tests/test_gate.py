"""The gate's arrival check on hand-written ledgers: what counts as the delivery for D having
arrived (loaded, extracted on D), and what holds an academy back (nothing, an incomplete API
delivery, a rejected file), on days a register is due and on days it is not."""

from __future__ import annotations

from datetime import date

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
