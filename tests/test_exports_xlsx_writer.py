"""The priority workbook's fast cell writer gives exactly openpyxl's bytes, and the schools'
files are the same made in a process pool or in this process."""

from __future__ import annotations

import io
from datetime import date, datetime

import pandas as pd
import pytest
from openpyxl import Workbook
from openpyxl.comments import Comment

from exports.xlsx import _save, fixed_zip

STAMP = datetime(2026, 7, 22)

AWKWARD = [
    "plain",
    "",
    " leading space",
    "trailing space ",
    "   ",
    "a & b < c > d \"quoted\" 'single'",
    "line\nbreak\r\ttab",
    '\'=HYPERLINK("x")',
    "Ünïcödé – ✓ 学校",
    0,
    -3,
    2**40,
    1.5,
    0.1 + 0.2,
    1e-20,
    float("nan"),
    True,
    False,
    date(2026, 7, 22),
    datetime(2026, 7, 22, 9, 30),
    "=SUM(A1:A2)",
]


def _book() -> Workbook:
    wb = Workbook()
    ws = wb.active
    for r, value in enumerate(AWKWARD, start=1):
        ws.cell(row=r, column=1).value = value
        styled = ws.cell(row=r, column=2)
        styled.value = value
        styled.number_format = "0.0"
        forced = ws.cell(row=r, column=3)
        if isinstance(value, str):
            forced.value = value
            forced.data_type = "s"  # as exports.xlsx.put writes text, never a formula
    ws.cell(row=1, column=4).style = "Good"  # a styled empty cell
    ws.cell(row=2, column=4).value = "linked"
    ws.cell(row=2, column=4).hyperlink = "https://example.org"
    ws.cell(row=3, column=4).value = "commented"
    ws.cell(row=3, column=4).comment = Comment("a note", "someone")
    ws.row_dimensions[2].height = 30
    wb.create_sheet("Empty")
    return wb


def _openpyxl_bytes(wb: Workbook) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return fixed_zip(buffer.getvalue(), STAMP)


def test_fast_writer_gives_openpyxl_bytes() -> None:
    assert fixed_zip(_save(_book()), STAMP) == _openpyxl_bytes(_book())


@pytest.mark.parametrize("value", AWKWARD)
def test_fast_writer_one_value(value: object) -> None:
    def book() -> Workbook:
        wb = Workbook()
        wb.active.cell(row=3, column=2).value = value
        return wb

    assert fixed_zip(_save(book()), STAMP) == _openpyxl_bytes(book())


PRAISE_FULL_COLUMNS = ["upn", "name", "year", "reg_group", "attended_sessions"]


def _workbook(plist, praise_full=None):  # noqa: ANN001, ANN202
    from exports.xlsx import priority_workbook

    weekly = pd.DataFrame({"week_start": [date(2026, 7, 13)], "100001": [95.0], "trust": [94.0]})
    return priority_workbook(
        school_name="School",
        trust_name="Trust",
        urn="100001",
        run_date=date(2026, 7, 22),
        plist=plist,
        facts=[("Pupils on roll", 3)],
        weekly=weekly,
        praise_full=pd.DataFrame(columns=PRAISE_FULL_COLUMNS)
        if praise_full is None
        else praise_full,
        praise_improved=pd.DataFrame(
            columns=[
                "upn",
                "name",
                "year",
                "reg_group",
                "intervention_date",
                "before_pct",
                "since_pct",
                "change",
                "back_to_stage_0",
            ]
        ),
        half_term_from=date(2026, 6, 1),
    )


@pytest.mark.parametrize("extra", [None, True, date(2026, 7, 1)])
def test_list_rows_written_from_columns_give_the_cells_bytes(monkeypatch, extra) -> None:
    """The list sheet's rows are written from its columns (exports.xlsx._list_body), not as
    openpyxl cells: the workbook must be byte for byte the one the cells give, for awkward
    text, numbers, missing values and priorities in any order; a value of another type
    (a bool, a date) makes the cells instead, with the same bytes."""
    import exports.xlsx as xlsx

    names = [s for s in AWKWARD if isinstance(s, str)] + ["=1+1", "-3", "x" * 40000]
    n = len(names)
    plist = pd.DataFrame(
        {
            "rank": list(range(1, n + 1)),
            "priority": [(i * 7) % 5 + 1 for i in range(n)],
            "name": names,
            "reasons": ["SA; PA" if i % 3 else "" for i in range(n)],
            "attendance_pct_ytd": ["93.5", "", None, "100.0"] * (n // 4) + ["7"] * (n % 4),
            "sessions_to_spare": [-3, 0, float("nan"), 1.5, float("inf")] * (n // 5)
            + [2] * (n % 5),
            "new_since_previous_school_day": ["Y", "N"] * (n // 2) + ["Y"] * (n % 2),
            "upn": [f"A{i:012d}" for i in range(n)],
            "explanation": [
                extra if i == 3 and extra is not None else f"line {i}\n" for i in range(n)
            ],
        }
    )
    from_columns = _workbook(plist)
    monkeypatch.setattr(xlsx, "_list_body", lambda *args: None)
    assert from_columns == _workbook(plist)


@pytest.mark.parametrize("extra", [None, True, date(2026, 7, 1)])
def test_praise_rows_written_from_values_give_the_cells_bytes(monkeypatch, extra) -> None:
    """The praise sheet's rows of pupils with full attendance are written from their values
    (exports.xlsx._plain_rows), not as cells: the same bytes as the cells give, for awkward
    text (neutralised text gets the quote prefix's style), numbers, missing values and rows
    with nothing to write; a value of another type makes the cells instead."""
    import numpy as np

    import exports.xlsx as xlsx

    names = [s for s in AWKWARD if isinstance(s, str)] + ["=1+1", "-3", None]
    n = len(names)
    full = pd.DataFrame(
        {
            "upn": [f"A{i:012d}" if i % 5 else None for i in range(n)],
            "name": names,
            "year": ["7", "=2", None, "11"] * (n // 4) + ["R"] * (n % 4),
            "reg_group": [None] * n,
            "attended_sessions": [np.int64(76), 0, float("nan"), 2.5, float("inf")] * (n // 5)
            + [3] * (n % 5),
        },
    ).astype(object)
    full.loc[0, ["upn", "name", "year", "attended_sessions"]] = None  # a row with nothing
    if extra is not None:
        full.loc[3, "reg_group"] = extra
    plist = pd.DataFrame({"rank": [1], "priority": [1], "name": ["Pupil"]})
    from_values = _workbook(plist, full)
    monkeypatch.setattr(xlsx, "_plain_rows", lambda *args: None)
    assert from_values == _workbook(plist, full)
