"""The priority workbook's fast cell writer gives exactly openpyxl's bytes, and the schools'
files are the same made in a process pool or in this process."""

from __future__ import annotations

import io
from datetime import date, datetime

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
