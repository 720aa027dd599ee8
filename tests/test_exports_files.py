"""The spreadsheet, CSV and HTML writers on hand-made rows: hostile names come out as text,
the spreadsheet has what an officer needs, and the same inputs give the same bytes."""

from __future__ import annotations

import io
import time
import zipfile
from datetime import date

import pandas as pd
from openpyxl import load_workbook

from exports.csvout import _cell, _cells, csv_bytes
from exports.priority import COLUMNS
from exports.report import trust_report
from exports.xlsx import PRIORITY_COLOURS, priority_workbook

HOSTILE = [
    '=HYPERLINK("http://evil.example","x")',
    "+44 123",
    "-Smith",
    "@SUM(A1:A9)",
    "\tTab",
    "<script>alert('x')</script>",
]
RUN = date(2025, 11, 21)


def _plist() -> pd.DataFrame:
    rows = []
    for i, name in enumerate(HOSTILE, start=1):
        row = {c: "" for c in COLUMNS}
        row.update(
            rank=i,
            priority=1 if i == 1 else 3,
            reasons="Severely absent" if i == 1 else "Persistently absent",
            upn=f"A93120001900{i}",
            name=name,
            year="4",
            reg_group="4B",
            attendance_pct_ytd="40.0" if i == 1 else "85.5",
            stage=2,
            stage_name="Contact and support",
            action_now_due="Stage 2: contact the family",
            new_since_previous_school_day="Y",
            explanation="Absent for 60 of 100 sessions this school year (60.0%).",
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def _book(facts: list | None = None, notice: str | None = None) -> bytes:
    weekly = pd.DataFrame(
        {
            "week_start": [date(2025, 11, 10), date(2025, 11, 17)],
            "140001": [91.0, 93.5],
            "trust": [94.0, 94.2],
        }
    )
    praise = pd.DataFrame(
        [
            {
                "upn": "A931200019009",
                "name": "=1+1",
                "year": "4",
                "reg_group": "4B",
                "attended_sessions": 20,
            }
        ]
    )
    improved = pd.DataFrame(
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
    )
    return priority_workbook(
        school_name="Test Primary",
        trust_name="=Trust",
        urn="140001",
        run_date=RUN,
        plist=_plist(),
        facts=facts or [("Pupils on roll", 6)],
        notice=notice,
        weekly=weekly,
        praise_full=praise,
        praise_improved=improved,
        half_term_from=date(2025, 11, 3),
    )


def test_csv_names_come_out_as_text() -> None:
    text = csv_bytes(pd.DataFrame({"name": HOSTILE, "n": [-3, 1, 2, 3, 4, 5]})).decode()
    lines = text.splitlines()
    assert lines[1].startswith("\"'=HYPERLINK(") and lines[1].endswith(",-3")
    assert lines[2] == "'+44 123,1" and lines[3] == "'-Smith,2" and lines[4] == "'@SUM(A1:A9),3"
    assert lines[5] == "'\tTab,4"
    assert lines[6] == "<script>alert('x')</script>,5"  # text, harmless in a spreadsheet


def test_vectorised_csv_cells_follow_the_cell_rule() -> None:
    """Text columns and date-only datetime columns are written with vectorised operations;
    each must give what the rule for one cell gives (a missing date, NaT, is an empty cell)."""
    frame = pd.DataFrame(
        {
            "text": pd.Series(["=a", "b", None, "-c"], dtype="str"),
            "object": pd.Series(["=a", "b", None, "@c"], dtype=object),
            "mixed": pd.Series(["=a", 3, None, date(2025, 1, 2)], dtype=object),
            "dates": pd.to_datetime(["2025-01-02", None, "2025-03-04", "2025-12-31"]),
            "times": pd.to_datetime(
                ["2025-01-02 10:30", None, "2025-03-04 00:00", "2025-03-05 00:00"]
            ),
        }
    )
    for name in frame.columns:
        expected = [_cell(v) for v in frame[name].astype(object)]
        assert list(_cells(frame[name])) == expected, name
    assert list(_cells(frame["dates"])) == ["2025-01-02", "", "2025-03-04", "2025-12-31"]
    assert list(_cells(frame["times"]))[:2] == ["2025-01-02T10:30:00", ""]


def test_spreadsheet_cells_are_text_never_formulas() -> None:
    data = _book()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet"):
                body = z.read(name)
                assert b"<f>" not in body and b"<f " not in body, name
    book = load_workbook(io.BytesIO(data))
    ws = book["Priority list"]
    header = [c.value for c in ws[1]]
    col = header.index("Name") + 1
    names = [ws.cell(row=r, column=col) for r in range(2, 2 + len(HOSTILE))]
    assert all(c.data_type == "s" for c in names)
    assert [c.value for c in names[:5]] == ["'" + n for n in HOSTILE[:5]]
    assert names[5].value == HOSTILE[5]
    assert book["Pupils to praise"]["B4"].value == "'=1+1"


def test_spreadsheet_is_made_for_a_person() -> None:
    book = load_workbook(io.BytesIO(_book()))
    assert book.sheetnames == ["Priority list", "Summary", "Pupils to praise"]
    ws = book["Priority list"]
    assert ws.freeze_panes == "D2"
    assert ws.auto_filter.ref == f"A1:X{len(HOSTILE) + 1}"
    header = [c.value for c in ws[1]]
    assert "Action now due" in header and "What to tell the family" in header
    pcol = header.index("Priority") + 1
    assert ws.cell(row=2, column=pcol).fill.fgColor.rgb.endswith(PRIORITY_COLOURS[1][0])
    assert ws.cell(row=3, column=pcol).fill.fgColor.rgb.endswith(PRIORITY_COLOURS[3][0])
    widths = [ws.column_dimensions[c].width for c in "ABCDEFG"]
    assert all(w >= 8 for w in widths)
    acol = header.index("Attendance % YTD") + 1
    assert ws.cell(row=2, column=acol).value == 40.0  # a number a filter can sort
    with zipfile.ZipFile(io.BytesIO(_book())) as z:
        assert any(n.startswith("xl/charts/chart") for n in z.namelist())


def test_spreadsheet_bytes_do_not_depend_on_the_clock() -> None:
    first = _book()
    time.sleep(1.1)
    assert _book() == first
    with zipfile.ZipFile(io.BytesIO(first)) as z:
        core = z.read("docProps/core.xml").decode()
        assert "2025-11-21T00:00:00Z" in core
        assert {i.date_time for i in z.infolist()} == {(2025, 11, 21, 0, 0, 0)}


def test_report_escapes_text() -> None:
    summary = pd.DataFrame(
        [
            {
                "urn": "140001",
                "academy_name": "<script>alert(1)</script>",
                "phase": "primary",
                "la_code": "931",
                "pupils_on_roll": 10,
                "attendance_pct_ytd": 93.1,
                "attendance_pct_on_d": 90.0,
                "pa_count": 2,
                "pa_pct": 20.0,
                "sa_count": 0,
                "sa_pct": 0.0,
                "stage_0": 8,
                "stage_1": 1,
                "stage_2": 1,
                "stage_3": 0,
                "stage_4": 0,
                "stage_5_plus": 0,
                "data_quality_status": "held back",
                "held_back_reason": "<b>late</b>",
            }
        ]
    )
    quality = pd.DataFrame(
        [
            {
                "urn": "140001",
                "academy_name": "<script>alert(1)</script>",
                "deliveries_received": 3,
                "deliveries_rejected": 1,
                "records_loaded": 100,
                "records_rejected": 2,
                "rejection_reasons": "code '<x>' is not a DfE code (2)",
                "missing_marks": 0,
                "late_deliveries": 0,
                "school_days_without_delivery": 1,
                "delivery_for_run_date": "N",
                "held_back_reason": "<b>late</b>",
            }
        ]
    )
    weekly = pd.DataFrame({"week_start": [date(2025, 11, 17)], "140001": [93.1], "trust": [93.1]})
    html = trust_report(
        trust_name="T & <i>",
        run_date=RUN,
        summary=summary,
        quality=quality,
        weekly=weekly,
        trust_totals={
            "pupils": 10,
            "attendance_pct": 93.1,
            "attendance_pct_on_d": 90.0,
            "pa_count": 2,
            "pa_pct": 20.0,
            "sa_count": 0,
            "sa_pct": 0.0,
        },
    ).decode()
    assert "<script" not in html and "<b>late" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Held back today" in html and "&lt;b&gt;late&lt;/b&gt;" in html
    assert html.count("<svg") == 3


def test_the_summary_says_when_records_were_rejected() -> None:
    """No rejections: the two counts at 0 and no notice. Some: the counts, and the notice
    beneath them (the messy trust's end-to-end test checks it in real workbooks)."""
    from exports.build import _quality_facts

    facts, notice = _quality_facts({"records_rejected": 0, "deliveries_rejected": 0})
    assert facts == [
        ("Register marks rejected to date", 0),
        ("Register files rejected whole to date", 0),
    ]
    assert notice is None
    facts, notice = _quality_facts({"records_rejected": 12, "deliveries_rejected": 1})
    assert [v for _, v in facts] == [12, 1]
    assert notice is not None and "not counted" in notice
    book = load_workbook(io.BytesIO(_book(facts=facts, notice=notice)))
    ws = book["Summary"]
    column = [ws.cell(r, 1).value for r in range(1, ws.max_row + 1)]
    at = column.index("Register files rejected whole to date")
    assert column[at + 1] == notice
    assert ws.cell(at + 2, 1).alignment.wrap_text
    plain = load_workbook(io.BytesIO(_book()))["Summary"]
    assert not any(
        isinstance(c.value, str) and c.value.startswith("Some of this school")
        for row in plain.iter_rows()
        for c in row
    )
