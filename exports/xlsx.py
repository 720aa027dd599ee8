"""The priority list as a spreadsheet made for an attendance officer (SPEC 7.3).

Three sheets: the list itself (frozen header, filters, readable widths, each row coloured by
its priority), a summary with a chart of the school's weekly attendance against the trust's,
and the pupils to praise. Every text cell is written as text, never as a formula, and the file
is byte-identical for the same inputs: the document dates are the run date and the zip is
rewritten with fixed timestamps in a fixed order.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from copy import copy
from datetime import date, datetime

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell._writer import write_cell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import LineChart, Reference
from openpyxl.comments.comment_sheet import CommentRecord
from openpyxl.compat import safe_string
from openpyxl.drawing.spreadsheet_drawing import SpreadsheetDrawing
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.fonts import DEFAULT_FONT
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._writer import WorksheetWriter
from openpyxl.worksheet.dimensions import SheetDimension
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from exports.csvout import FORMULA_STARTS, neutralise

# One colour per priority level of exports.priority.REASONS (most urgent first): a strong tint
# for the priority cell and a pale one for the rest of the row.
PRIORITY_COLOURS = {
    1: ("C0392B", "F9DEDC"),  # severely absent
    2: ("8E44AD", "EEDFF5"),  # children missing education
    3: ("E67E22", "FCE9D6"),  # persistently absent
    4: ("D4AC0D", "FBF3D0"),  # penalty notice threshold
    5: ("2E86C1", "DDEBF7"),  # attendance stage
}
HEADER_FILL = PatternFill("solid", fgColor="1F3864")
HEADER_FONT = Font(bold=True, color="FFFFFF")
TITLE_FONT = Font(bold=True, size=14, color="1F3864")
NOTICE_COLOUR = "C0392B"  # the summary sheet's data-quality notice: the most urgent red
THIN = Side(style="thin", color="BFBFBF")

HEADINGS = {
    "rank": "Rank",
    "priority": "Priority",
    "reasons": "Why on the list",
    "upn": "UPN",
    "name": "Name",
    "year": "Year",
    "reg_group": "Reg group",
    "attendance_pct_ytd": "Attendance % YTD",
    "absence_sessions": "Absence sessions",
    "unauthorised_sessions": "Unauthorised sessions",
    "rolling_absence_sessions": "Absence, last 10 weeks",
    "rolling_unauthorised_sessions": "Unauthorised, last 10 weeks",
    "band": "Band",
    "stage": "Stage",
    "stage_name": "Stage name",
    "action_now_due": "Action now due",
    "school_days_at_stage": "School days at stage",
    "new_since_previous_school_day": "New today",
    "attendance_pct_last_4_weeks": "Attendance % last 4 weeks",
    "trend_4_weeks": "4-week trend",
    "sessions_to_spare": "Sessions to spare",
    "fsm": "FSM",
    "sen": "SEN",
    "explanation": "What to tell the family",
}
# The order a person reads a row in: who, why, what to do, the figures, then the detail.
SHEET_ORDER = [
    "rank",
    "priority",
    "name",
    "year",
    "reg_group",
    "reasons",
    "action_now_due",
    "new_since_previous_school_day",
    "attendance_pct_ytd",
    "attendance_pct_last_4_weeks",
    "trend_4_weeks",
    "sessions_to_spare",
    "absence_sessions",
    "unauthorised_sessions",
    "rolling_absence_sessions",
    "rolling_unauthorised_sessions",
    "band",
    "stage",
    "stage_name",
    "school_days_at_stage",
    "fsm",
    "sen",
    "upn",
    "explanation",
]
WIDE = {"explanation": 80, "action_now_due": 60, "reasons": 30, "name": 22}
NUMERIC = {
    "rank",
    "priority",
    "absence_sessions",
    "unauthorised_sessions",
    "rolling_absence_sessions",
    "rolling_unauthorised_sessions",
    "stage",
    "school_days_at_stage",
    "sessions_to_spare",
}
PERCENT_TEXT = {"attendance_pct_ytd", "attendance_pct_last_4_weeks"}


def put(ws: Worksheet, row: int, col: int, value: object) -> Cell:
    """Write one cell. Text is neutralised like the CSV and forced to the string type, so that
    openpyxl never writes a name such as '=HYPERLINK(...)' as a formula."""
    cell = ws.cell(row=row, column=col)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return cell
    if isinstance(value, str):
        text = neutralise(value)
        cell.value = text
        cell.data_type = "s"
        if text != value:
            cell.quotePrefix = True
        return cell
    if hasattr(value, "item"):  # numpy scalars
        value = value.item()
    cell.value = value
    return cell


def _number(value: object) -> object:
    if isinstance(value, str):
        try:
            return float(value) if value else None
        except ValueError:
            return value
    return value


def _header(ws: Worksheet, row: int, labels: list[str]) -> None:
    for col, label in enumerate(labels, start=1):
        cell = put(ws, row, col, label)
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _widths(ws: Worksheet, frame: pd.DataFrame, keys: list[str], labels: list[str]) -> None:
    for col, (key, label) in enumerate(zip(keys, labels, strict=True), start=1):
        longest = max([len(str(v)) for v in frame[key]] + [0]) if key in frame else 0
        width = WIDE.get(key) or min(max(longest + 2, len(label) * 0.6 + 4, 8), 40)
        ws.column_dimensions[get_column_letter(col)].width = round(width, 1)


def _row_heights(ws: Worksheet, plist: pd.DataFrame, keys: list[str]) -> None:
    """Tall enough for the wrapped text: spreadsheet programs do not all grow rows on opening."""
    lines = [1] * len(plist)
    for key in ("explanation", "action_now_due", "reasons"):
        if key not in keys:
            continue
        width = ws.column_dimensions[get_column_letter(keys.index(key) + 1)].width
        per_line = max(width - 2, 1)
        lines = [
            max(n, math.ceil(len(str(v)) * 0.95 / per_line))
            for n, v in zip(lines, plist[key].tolist(), strict=True)
        ]
    for r, n in enumerate(lines, start=2):
        ws.row_dimensions[r].height = 13 * n + 3


def _fit_width(ws: Worksheet) -> None:
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _cell_kind(key: str) -> str:
    if key == "priority":
        return "priority"
    if key in ("explanation", "action_now_due", "reasons"):
        return "wrapped"
    return "percent" if key in PERCENT_TEXT else "text"


def _row_style(ws: Worksheet, priority: int, kind: str) -> str:
    """The named style of one kind of cell in a row of this priority, registered once per
    workbook. One named style per cell instead of five style objects: openpyxl hashes every
    style object it is given, which made a 900-pupil list take seconds."""
    name = f"Priority {priority} {kind}"
    if name in ws.parent.named_styles:
        return name
    strong, pale = PRIORITY_COLOURS.get(priority, ("FFFFFF", "FFFFFF"))
    style = NamedStyle(name=name, border=Border(bottom=THIN))
    style.fill = PatternFill("solid", fgColor=strong if kind == "priority" else pale)
    if kind == "priority":
        style.font = Font(bold=True, color="FFFFFF")
        style.alignment = Alignment(horizontal="center", vertical="top")
    else:
        style.font = copy(DEFAULT_FONT)  # what a cell without a style of its own shows
        style.alignment = Alignment(wrap_text=kind == "wrapped", vertical="top")
    if kind == "percent":
        style.number_format = "0.0"
    ws.parent.add_named_style(style)
    return name


def _list_sheet(ws: Worksheet, plist: pd.DataFrame) -> _Body | None:
    keys = [k for k in SHEET_ORDER if k in plist.columns]
    keys += [k for k in plist.columns if k not in keys]
    labels = [HEADINGS.get(k, k) for k in keys]
    _header(ws, 1, labels)
    ws.row_dimensions[1].height = 32
    kinds = [_cell_kind(key) for key in keys]
    body = _list_body(ws, plist, keys, kinds)
    if body is None:
        _list_cells(ws, plist, keys, kinds)
    _widths(ws, plist, keys, labels)
    _row_heights(ws, plist, keys)
    ws.freeze_panes = "D2"  # the header row, and rank to name, stay in view
    last = get_column_letter(len(keys))
    ws.auto_filter.ref = f"A1:{last}{max(len(plist) + 1, 2)}"
    ws.sheet_view.zoomScale = 90
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.scale = 70
    ws.print_title_rows = "1:1"
    ws.print_title_cols = "A:C"
    return body


def _list_cells(ws: Worksheet, plist: pd.DataFrame, keys: list[str], kinds: list[str]) -> None:
    """The list's rows as openpyxl cells: for values `_list_body` does not write itself."""
    # The style array each (priority, kind) named style gives a cell, taken from the first cell
    # styled with it: assigning it directly is what `cell.style = name` does, without looking
    # the name up again for every one of the list's cells.
    arrays: dict[tuple[int, str], StyleArray] = {}
    for r, record in enumerate(plist.to_dict("records"), start=2):
        priority = int(record["priority"])
        for c, (key, kind) in enumerate(zip(keys, kinds, strict=True), start=1):
            value = record[key]
            if kind == "percent":
                value = _number(value)
            cell = put(ws, r, c, value)
            quoted = cell.quotePrefix
            array = arrays.get((priority, kind))
            if array is None:
                cell.style = _row_style(ws, priority, kind)
                array = arrays[(priority, kind)] = copy(cell._style)
            else:
                cell._style = copy(array)
            if quoted:  # put() marked neutralised text; a named style resets the flag
                cell.quotePrefix = True


class _Body:
    """Rows of a sheet, ready to write: per row, each written cell's column letter, style
    array (None: no style) and XML after the style attribute. `_FastSheetWriter` writes them
    where openpyxl would have written the same cells, numbering the styles as it goes (the
    same numbers, in the same order, as the cells would have got), so the file is byte for
    byte the one the cells give (tests/test_exports_xlsx_writer.py). `columns`: the widest
    row's cells, written or not (an empty cell still counts in the sheet's dimension)."""

    def __init__(
        self, rows: dict[int, list[tuple[str, StyleArray | None, str]]], columns: int
    ) -> None:
        self.rows = rows
        self.columns = columns

    def row_xml(self, row_idx: int, ids: dict[int, int], styles) -> str:  # noqa: ANN001
        """A row's cells; `ids` keeps each style array's number in `styles` (openpyxl's
        IndexedList, which numbers an array the first time it is added) by identity: the
        rows share a handful of arrays, and hashing one per cell was a third of the time."""
        parts = []
        for letter, array, rest in self.rows[row_idx]:
            if array is None:
                parts.append(f'<c r="{letter}{row_idx}"{rest}')
                continue
            sid = ids.get(id(array))
            if sid is None:
                sid = ids[id(array)] = styles.add(array)
            parts.append(f'<c r="{letter}{row_idx}" s="{sid}"{rest}')
        return "".join(parts)


def _value_xml(value: object, scratch: Cell) -> tuple[bool, str | None] | None:
    """What `put` and the sheet writer make of one value of a plain type: (whether the text
    was neutralised, the cell's XML after its style attribute, None for an empty cell); None
    for a value of any other type (a bool, a date: the caller makes cells instead)."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()  # numpy scalars
    if value is None or (type(value) is float and math.isnan(value)):
        return False, None
    if type(value) is str:
        text = neutralise(value)
        return text != value, _text_xml(scratch.check_string(text))
    if type(value) in (int, float):
        number = safe_string(value)  # "" for infinity: an empty element
        xml = f"<v>{_escape_text(number)}</v></c>" if number else "<v /></c>"
        return False, f' t="n">{xml}'
    return None


def _text_xml(text: str) -> str:
    if text == "":
        return ' t="inlineStr" />'
    stripped = text.strip()
    space = ' xml:space="preserve"' if stripped and text != stripped else ""
    return f' t="inlineStr"><is><t{space}>{_escape_text(text)}</t></is></c>'


def _column_xml(values: list, scratch: Cell) -> list[tuple[bool, str | None]] | None:
    """`_value_xml` of every value of a column; None when one is of another type. A column
    of text alone (names, UPNs, reasons) is rendered in one pass, without openpyxl's string
    check per value: the check's two outcomes, an illegal character (an error) and text past
    Excel's 32,767 characters (cut), are looked for in the whole column first, and a column
    with either goes value by value as before."""
    plain_text = all(type(v) is str and len(v) < 32767 for v in values)
    if plain_text and not ILLEGAL_CHARACTERS_RE.search("".join(values)):
        rendered: dict[str, tuple[bool, str]] = {}  # values repeat: Y/N, stages, reasons
        out = []
        for value in values:
            found = rendered.get(value)
            if found is None:
                text = "'" + value if value.startswith(FORMULA_STARTS) else value
                found = rendered[value] = (text != value, _text_xml(text))
            out.append(found)
        return out
    out = []
    seen: dict[tuple[type, object], tuple[bool, str | None]] = {}  # Y/N, stages, reasons
    for value in values:
        cached = type(value) in (str, int)
        found = seen.get((type(value), value)) if cached else None
        if found is None:
            found = _value_xml(value, scratch)
            if found is None:
                return None
            if cached:
                seen[(type(value), value)] = found
        out.append(found)
    return out


def _list_body(
    ws: Worksheet, plist: pd.DataFrame, keys: list[str], kinds: list[str]
) -> _Body | None:
    """The list's rows from its columns, without a cell object per value: what `_list_cells`
    and `put` make of each value (neutralised text, numbers, empty cells, one named style per
    priority and kind of cell, registered in the same order), for text, int, float and
    missing values; None when a column holds anything else, and the cells are made instead.
    Cells were most of the time spent making a trust's 50 priority lists."""
    scratch = Cell(ws)  # to read strings as openpyxl does, and styles; never in the sheet
    columns: list[list[tuple[bool, str]]] = []
    for key, kind in zip(keys, kinds, strict=True):
        values = plist[key].tolist()
        found = _column_xml([_number(v) for v in values] if kind == "percent" else values, scratch)
        if found is None:
            return None
        # a styled cell is written even when empty
        columns.append([(quoted, ' t="n" />' if rest is None else rest) for quoted, rest in found])
    letters = [get_column_letter(c) for c in range(1, len(keys) + 1)]
    arrays: dict[tuple[int, str, bool], StyleArray] = {}
    rows: dict[int, list[tuple[str, StyleArray, str]]] = {}
    priorities = [int(p) for p in plist["priority"].tolist()]
    for i, priority in enumerate(priorities):
        row = []
        for c, kind in enumerate(kinds):
            quoted, rest = columns[c][i]
            array = arrays.get((priority, kind, quoted))
            if array is None:
                scratch.style = _row_style(ws, priority, kind)
                array = copy(scratch._style)
                if quoted:
                    array.quotePrefix = True
                arrays[(priority, kind, quoted)] = array
            row.append((letters[c], array, rest))
        rows[i + 2] = row
    return _Body(rows, len(keys))


def _plain_rows(ws: Worksheet, first: int, rows: list[list[object]]) -> _Body | None:
    """Rows of values without a style from row `first` on, as `put` would make their cells
    (text neutralised, and then marked with the quote prefix, the only style such a cell
    gets; missing values not written); None when any value is of another type, and the
    caller makes the cells instead. The praise sheet's pupils with full attendance, a few
    hundred rows a school: made as cells, they were a fifth of its workbook's time."""
    scratch = Cell(ws)  # to read strings as openpyxl does, and the quote prefix's style
    scratch.quotePrefix = True
    quoted_array = copy(scratch._style)
    width = max(map(len, rows), default=0)
    letters = [get_column_letter(c) for c in range(1, width + 1)]
    columns = []
    for c in range(width):
        found = _column_xml([values[c] if c < len(values) else None for values in rows], scratch)
        if found is None:
            return None
        columns.append(found)
    body: dict[int, list[tuple[str, StyleArray | None, str]]] = {}
    for i, values in enumerate(rows):
        body[first + i] = [
            (letters[c], quoted_array if quoted else None, rest)
            for c in range(len(values))
            for quoted, rest in (columns[c][i],)
            if rest is not None
        ]
    return _Body(body, len(letters))


def _summary_sheet(
    ws: Worksheet,
    school_name: str,
    trust_name: str,
    run_date: date,
    facts: list[tuple[str, object]],
    weekly: pd.DataFrame,
    urn: str,
    notice: str | None = None,
) -> None:
    put(ws, 1, 1, f"{school_name}: attendance as of {run_date.isoformat()}").font = TITLE_FONT
    put(ws, 2, 1, f"{trust_name}. Priority levels, most urgent first:").font = Font(italic=True)
    legend = [
        "1 Severely absent",
        "2 Children missing education",
        "3 Persistently absent",
        "4 Penalty notice threshold",
        "5 Attendance stage",
    ]
    for i, text in enumerate(legend, start=1):
        cell = put(ws, 2 + i, 1, text)
        cell.fill = PatternFill("solid", fgColor=PRIORITY_COLOURS[i][0])
        cell.font = Font(bold=True, color="FFFFFF")
    row = 9
    for label, value in facts:
        put(ws, row, 1, label).font = Font(bold=True)
        put(ws, row, 2, value).alignment = Alignment(horizontal="right")
        row += 1
    if notice:
        # Across the label and value columns, wrapped: the chart sits from column E.
        cell = put(ws, row, 1, notice)
        cell.font = Font(bold=True, color=NOTICE_COLOUR)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=3)
        ws.row_dimensions[row].height = 64
        row += 1
    row += 1
    top = row
    _header(ws, top, ["Week beginning", "This school %", "Trust %"])
    for i, rec in enumerate(weekly.to_dict("records"), start=top + 1):
        put(ws, i, 1, rec["week_start"]).number_format = "yyyy-mm-dd"
        put(ws, i, 2, None if pd.isna(rec.get(urn)) else float(rec[urn])).number_format = "0.0"
        put(ws, i, 3, None if pd.isna(rec["trust"]) else float(rec["trust"])).number_format = "0.0"
    ws.column_dimensions["A"].width = 40
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions["C"].width = 12
    if len(weekly):
        chart = LineChart()
        chart.title = "Weekly attendance %"
        chart.y_axis.title = "Attendance %"
        chart.y_axis.number_format = "0"
        values = weekly[[c for c in (urn, "trust") if c in weekly]].stack()
        low = float(values.min()) if len(values) else 80.0
        chart.y_axis.scaling.min = max(0, int(low // 5 * 5) - 5)
        chart.y_axis.scaling.max = 100
        chart.x_axis.title = "Week beginning"
        chart.x_axis.number_format = "dd mmm"
        chart.height, chart.width = 9, 17
        data = Reference(ws, min_col=2, max_col=3, min_row=top, max_row=top + len(weekly))
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=top + 1, max_row=top + len(weekly)))
        for series in chart.series:
            series.smooth = False
        chart.series[0].graphicalProperties.line.solidFill = "C0392B"
        chart.series[0].graphicalProperties.line.width = 28000
        chart.series[1].graphicalProperties.line.solidFill = "7F8C8D"
        chart.series[1].graphicalProperties.line.dashStyle = "dash"
        ws.add_chart(chart, "E2")
    _fit_width(ws)


def _praise_sheet(
    ws: Worksheet, full: pd.DataFrame, improved: pd.DataFrame, since: date
) -> _Body | None:
    """The pupils to praise; their rows with full attendance come back as a `_Body` (None:
    written as cells)."""
    put(ws, 1, 1, "Pupils to praise").font = TITLE_FONT
    put(ws, 2, 1, f"Full attendance this half term (since {since.isoformat()})").font = Font(
        bold=True
    )
    _header(ws, 3, ["UPN", "Name", "Year", "Reg group", "Sessions attended"])
    row = 4
    columns = ["upn", "name", "year", "reg_group", "attended_sessions"]
    values = [list(v) for v in zip(*(full[c].tolist() for c in columns), strict=True)]
    body = _plain_rows(ws, row, values)
    if body is None:
        for r, rec in enumerate(values, start=row):
            for c, v in enumerate(rec, start=1):
                put(ws, r, c, v)
    row += len(values)
    if full.empty:
        put(ws, row, 1, "No pupil has full attendance this half term yet.")
        row += 1
    row += 1
    put(ws, row, 1, "Most improved since an intervention this year").font = Font(bold=True)
    row += 1
    _header(
        ws,
        row,
        [
            "UPN",
            "Name",
            "Year",
            "Reg group",
            "First intervention",
            "Attendance % before",
            "Attendance % since",
            "Change (points)",
            "Back to no action on",
        ],
    )
    ws.row_dimensions[row].height = 30
    row += 1
    for rec in improved.to_dict("records"):
        values = [
            rec["upn"],
            rec["name"],
            rec["year"],
            rec["reg_group"],
            rec["intervention_date"],
            rec["before_pct"],
            rec["since_pct"],
            rec["change"],
            rec["back_to_stage_0"],
        ]
        for c, v in enumerate(values, start=1):
            cell = put(ws, row, c, v)
            if isinstance(v, date):
                cell.number_format = "yyyy-mm-dd"
            elif isinstance(v, float):
                cell.number_format = "0.0"
        row += 1
    if improved.empty:
        put(ws, row, 1, "No pupil has improved since an intervention yet.")
    for col, width in zip("ABCDEFGHI", (16, 28, 8, 11, 18, 14, 14, 14, 20), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A4"
    _fit_width(ws)
    return body


def priority_workbook(
    *,
    school_name: str,
    trust_name: str,
    urn: str,
    run_date: date,
    plist: pd.DataFrame,
    facts: list[tuple[str, object]],
    weekly: pd.DataFrame,
    praise_full: pd.DataFrame,
    praise_improved: pd.DataFrame,
    half_term_from: date,
    notice: str | None = None,
) -> bytes:
    # Plain Python values: iterating pandas' arrow-backed text cell by cell is slow, and the
    # values (str, int, float) are the same.
    plist = plist.astype(object)
    wb = Workbook()
    ws = wb.active
    ws.title = "Priority list"
    body = _list_sheet(ws, plist)
    _summary_sheet(
        wb.create_sheet("Summary"), school_name, trust_name, run_date, facts, weekly, urn, notice
    )
    praise = wb.create_sheet("Pupils to praise")
    praise_body = _praise_sheet(praise, praise_full, praise_improved, half_term_from)
    stamp = datetime(run_date.year, run_date.month, run_date.day)
    wb.properties.creator = trust_name
    wb.properties.title = f"Priority list {urn} {run_date.isoformat()}"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.lastModifiedBy = None
    bodies = {sheet.title: b for sheet, b in ((ws, body), (praise, praise_body)) if b}
    return fixed_zip(_save(wb, bodies), stamp)


def _save(wb: Workbook, bodies: dict[str, _Body] | None = None) -> bytes:
    """`wb.save` into memory, with the sheets' cells written by `_FastSheetWriter` (and the
    rows of `bodies`, by sheet title, where their cells would be). The core properties keep
    the run date (fixed_zip pins them either way)."""
    buffer = io.BytesIO()
    # stored, not deflated: fixed_zip compresses every member once, when it rewrites the zip
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        _FastExcelWriter(wb, archive, bodies or {}).write_data()
    return buffer.getvalue()


def _escape_text(text: str) -> str:
    """XML character data escaped as ElementTree (and so openpyxl) escapes it."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attribute(text: str) -> str:
    """An XML attribute value escaped as ElementTree (and so et_xmlfile) escapes it."""
    text = _escape_text(text).replace('"', "&quot;")
    return text.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#09;")


def _plain_cell_xml(cell: Cell, styled: bool) -> str | None:
    """The XML openpyxl's cell writer makes for a plain cell (empty, text, int or float, no
    hyperlink or comment), built as one string; None for anything else, which openpyxl writes
    itself. openpyxl builds and serialises an element tree per cell, which was most of the
    time spent saving a trust's 50 priority lists (450,000 cells)."""
    value, kind = cell._value, cell.data_type
    if cell.hyperlink or cell._comment is not None or kind not in ("s", "n"):
        return None
    head = f'<c r="{cell.coordinate}"' + (f' s="{cell.style_id}"' if styled else "")
    head += ' t="inlineStr"' if kind == "s" else ' t="n"'
    if value is None or value == "":
        return head + " />"
    if kind == "s" and type(value) is str:
        stripped = value.strip()
        space = ' xml:space="preserve"' if stripped and value != stripped else ""
        return f"{head}><is><t{space}>{_escape_text(value)}</t></is></c>"
    if kind == "n" and type(value) in (int, float):
        number = safe_string(value)  # "" for NaN and infinity: an empty element
        return f"{head}><v>{_escape_text(number)}</v></c>" if number else f"{head}><v /></c>"
    return None


class _FastSheetWriter(WorksheetWriter):
    """openpyxl's worksheet writer, writing plain cells as ready-made XML text into the same
    stream (byte-identical: tests/test_exports_xlsx_writer.py compares the two), and a
    `_Body`'s rows as if their cells were in the sheet."""

    def __init__(self, ws: Worksheet, body: _Body | None = None) -> None:
        super().__init__(ws)
        self.body = body

    def write_dimensions(self):  # noqa: ANN201 (openpyxl's signature)
        if not self.body or not self.body.rows:
            return super().write_dimensions()
        rows = [r for r, _ in self.ws._cells] + list(self.body.rows)
        cols = [c for _, c in self.ws._cells] + [1, self.body.columns]
        ref = f"{get_column_letter(min(cols))}{min(rows)}:{get_column_letter(max(cols))}{max(rows)}"
        self.xf.send(SheetDimension(ref).to_tree())

    def rows(self):  # noqa: ANN201 (openpyxl's signature)
        """openpyxl's rows, and the body's among them, in order."""
        found = super().rows()
        if not self.body:
            return found
        have = {r for r, _ in found}
        found += [(r, []) for r in self.body.rows if r not in have]
        return sorted(found, key=lambda item: item[0])

    def write_rows(self):  # noqa: ANN201 (openpyxl's signature)
        if not self.body:
            return super().write_rows()
        xf = self.xf.send(True)
        styles, ids = self.ws.parent._cell_styles, {}
        with xf.element("sheetData"):
            for row_idx, row in self.rows():
                if row_idx not in self.body.rows:
                    self.write_row(xf, row, row_idx)
                    continue
                # the row element as et_xmlfile writes it (start tag, cells, end tag), as text
                attrs = {"r": f"{row_idx}"}
                attrs.update(self.ws.row_dimensions.get(row_idx, {}))
                start = " ".join(f'{k}="{_escape_attribute(v)}"' for k, v in attrs.items())
                xf._file(f"<row {start}>{self.body.row_xml(row_idx, ids, styles)}</row>")
        self.xf.send(None)

    def write_row(self, xf, row, row_idx):  # noqa: ANN001, ANN201 (openpyxl's signature)
        attrs = {"r": f"{row_idx}"}
        attrs.update(self.ws.row_dimensions.get(row_idx, {}))
        with xf.element("row", attrs):
            for cell in row:
                if cell._comment is not None:
                    self.ws._comments.append(CommentRecord.from_cell(cell))
                if cell._value is None and not cell.has_style and not cell._comment:
                    continue
                text = _plain_cell_xml(cell, cell.has_style)
                if text is None:
                    write_cell(xf, self.ws, cell, cell.has_style)
                else:
                    xf._file(text)


class _FastExcelWriter(ExcelWriter):
    def __init__(self, workbook: Workbook, archive: zipfile.ZipFile, bodies: dict) -> None:
        super().__init__(workbook, archive)
        self.bodies = bodies

    def write_worksheet(self, ws):  # noqa: ANN001, ANN201 (openpyxl's signature)
        """ExcelWriter.write_worksheet with _FastSheetWriter (a workbook not in write-only
        mode, which these are)."""
        ws._drawing = SpreadsheetDrawing()
        ws._drawing.charts = ws._charts
        ws._drawing.images = ws._images
        writer = _FastSheetWriter(ws, self.bodies.get(ws.title))
        writer.write()
        ws._rels = writer._rels
        self._archive.write(writer.out, ws.path[1:])
        self.manifest.append(ws)
        writer.cleanup()


_CORE_DATES = re.compile(
    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:(created|modified)>)"
)


def fixed_zip(data: bytes, when: datetime) -> bytes:
    """Rewrite a zip so its bytes depend only on its contents: every member stamped `when`,
    members in their original (deterministic) order, fixed compression, and the document dates
    in docProps/core.xml set to `when` even if the writer stamped the time of saving."""
    iso = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _CORE_DATES.sub(lambda m: m.group(1) + iso + m.group(3), body)
            member = zipfile.ZipInfo(info.filename, date_time=when.timetuple()[:6])
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o640 << 16
            member.create_system = 3
            dst.writestr(member, body, compresslevel=6)
    return out.getvalue()
