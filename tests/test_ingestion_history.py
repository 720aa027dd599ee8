"""History (SPEC 4): every version kept, the marks known on any past date rebuilt exactly, and a
delivery that arrives late but was extracted earlier never overwriting newer marks. Through the
real stack: ingestion to parquet, dbt on DuckDB (supersession lives in int_marks_current),
exports.

Three pupils, long_csv, a delivery each school day 1-12 Sep 2025 (everyone present). Then:
- an amendment extracted Wed 10 Sep 18:30 sets P1's Tue 2 Sep AM to I;
- a delivery extracted earlier (Tue 9 Sep 08:00) that lands only after the amendment has been
  ingested says O for the same session: it is an older version and must not win.
"""

from __future__ import annotations

from datetime import date

import pytest

from attendance.home import Home
from attendance.pipeline import run_day
from exports.warehouse import read_mart
from tests.builders import register_days, upn, write_config, write_long_csv, write_roll

pytestmark = pytest.mark.e2e

P1, P2, P3 = upn(1), upn(2), upn(3)
KEY_DATE = date(2025, 9, 2)


def present(d: date) -> list[tuple[str, date, str, str]]:
    return [(u, d, s, "/" if s == "AM" else "\\") for u in (P1, P2, P3) for s in ("AM", "PM")]


def outputs(home: Home, d: date) -> dict[str, bytes]:
    return {
        str(p.relative_to(home.exports)): p.read_bytes()
        for p in sorted(home.exports.rglob("*"))
        if p.is_file() and d.isoformat() in str(p.relative_to(home.exports))
    }


def known_marks(home: Home) -> list[tuple]:
    rows = read_mart(
        home,
        "select upn, mark_date, session, code, delivery from int_marks_current "
        "order by upn, mark_date, session",
    )
    return [tuple(str(v) for v in r) for r in rows.itertuples(index=False)]


def code_of(home: Home, pupil: str, d: date, session: str) -> str:
    rows = read_mart(
        home,
        "select code from int_marks_current where upn = ? and mark_date = ? and session = ?",
        [pupil, d, session],
    )
    return rows["code"].iloc[0]


@pytest.fixture(scope="module")
def home(tmp_path_factory, monkeypatch_module) -> Home:
    root = tmp_path_factory.mktemp("history_home")
    write_config(root)
    write_roll(root, [{"upn": u} for u in (P1, P2, P3)], date(2025, 8, 29))
    for d in register_days(date(2025, 9, 1), date(2025, 9, 12)):
        write_long_csv(root, d, present(d))
    monkeypatch_module.setenv("ATTENDANCE_HOME", str(root))
    return Home.resolve(root)


def test_amendments_late_deliveries_and_rebuilding_the_past(home):
    quiet = {"progress": lambda m: None}
    before_date = date(2025, 9, 5)
    run_day(home, before_date, **quiet)
    first_outputs = outputs(home, before_date)
    first_marks = known_marks(home)
    assert len(first_marks) == 3 * 2 * 5  # 1-5 Sep, 3 pupils, 2 sessions
    assert code_of(home, P1, KEY_DATE, "AM") == "/"

    # The amendment arrives (extracted Wed 10 Sep 18:30).
    write_long_csv(home.root, date(2025, 9, 10), [(P1, KEY_DATE, "AM", "I")], hour="183000")
    run_day(home, date(2025, 9, 12), **quiet)
    assert code_of(home, P1, KEY_DATE, "AM") == "I"

    # A delivery extracted before the amendment (Tue 9 Sep 08:00) lands late: kept as history,
    # but it is the older version, so it never overwrites the amendment.
    write_long_csv(home.root, date(2025, 9, 9), [(P1, KEY_DATE, "AM", "O")], hour="080000")
    run_day(home, date(2025, 9, 12), **quiet)
    assert code_of(home, P1, KEY_DATE, "AM") == "I"
    versions = read_mart(
        home,
        "select code, delivery from stg_marks where upn = ? and mark_date = ? and session = 'AM' "
        "order by extracted_at",
        [P1, KEY_DATE],
    )
    assert list(versions["code"]) == ["/", "O", "I"]  # every version kept, in extraction order
    assert list(versions["delivery"]) == [
        "registers_20250902T183000",
        "registers_20250909T080000",
        "registers_20250910T183000",
    ]

    # As of Tue 9 Sep (after 08:00 the O version was the latest extracted) O was known.
    run_day(home, date(2025, 9, 9), **quiet)
    assert code_of(home, P1, KEY_DATE, "AM") == "O"

    # Rebuilding 5 Sep after all of that gives exactly the marks and outputs of 5 Sep.
    run_day(home, before_date, **quiet)
    assert known_marks(home) == first_marks
    again = outputs(home, before_date)
    assert again.keys() == first_outputs.keys() and len(again) >= 4
    assert again == first_outputs
