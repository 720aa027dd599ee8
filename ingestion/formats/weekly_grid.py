"""`weekly_grid_csv`: one row per pupil per week (SPEC 3.2), `weekly_<ts>.csv`.

An empty cell says nothing about that session (the mark is neither set nor deleted); `-` means
the register was due and no mark was entered, which is a missing mark to report, not a code.
"""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from attendance.config import Academy
from ingestion.errors import FileRejected
from ingestion.files import Delivery
from ingestion.formats.table import (
    CANONICAL,
    by_value,
    first_error,
    map_unique,
    parse_dates,
    read_rows,
    stack_rows,
    strip_upper,
)

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri"]
CELLS = [f"{d} {s}" for d in DAYS for s in ("AM", "PM")]
COLUMNS = ["UPN", "Surname", "Forename", "Reg Group", "Week Beginning", *CELLS]
IDENTITY = re.compile(r"^\s*School:\s*(?P<name>.*?)\s*\((?P<laestab>\d{7})\)\s*,*\s*$")
MISSING_MARK = "-"


def parse(delivery: Delivery, academy: Academy) -> pd.DataFrame:
    return shape(stack_rows([read(delivery, academy)], [delivery.files[0].name]), academy)


def read(delivery: Delivery, academy: Academy) -> pa.Table:
    """The file's rows as strings with `_line` (`read_rows`); rejects a file that cannot be
    read or is another academy's (its first line names the school)."""
    (path,) = delivery.files
    table, preamble = read_rows(path.read_bytes(), COLUMNS, skip_lines=1)
    m = IDENTITY.match(preamble[0] if preamble else "")
    if m is None:
        raise FileRejected("the first line must be 'School: <name> (<LAESTAB>)'", line=1)
    if m["laestab"] != academy.laestab:
        raise FileRejected(
            f"the file is for LAESTAB {m['laestab']}, not {academy.laestab} ({academy.name}) "
            "whose folder it is in",
            line=1,
        )
    return table


def shape(table: pd.DataFrame, academy: Academy) -> pd.DataFrame:
    """`read`'s rows (of one file or of many, stacked) as one canonical record per cell that
    says something, in file, line and cell order."""
    week, bad_week = parse_dates(table["Week Beginning"], "%d/%m/%Y")
    row_error = pd.Series(None, index=table.index, dtype=object)
    row_error = first_error(row_error, bad_week, "Week Beginning is not a DD/MM/YYYY date")
    not_monday = map_unique(week, lambda d: d is not None and d.weekday() != 0)
    row_error = first_error(row_error, not_monday.astype(bool), "Week Beginning is not a Monday")
    upn = by_value(table["UPN"], strip_upper).to_numpy()
    # Every cell that says something, in row then cell order: the stack's rows are in file
    # and line order already, so this is file, line and cell order without a sort.
    cells = np.column_stack(
        [by_value(table[cell].fillna(""), str.strip).to_numpy() for cell in CELLS]
    )
    row, cell = np.nonzero(cells != "")
    if not len(row):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CANONICAL})
    # Each cell's date from its row's week: the distinct weeks times the five days.
    weeks, week_values = pd.factorize(week, use_na_sentinel=True)
    days = np.empty((len(week_values) + 1, len(DAYS)), dtype=object)
    for w, monday in enumerate([*week_values.tolist(), None]):
        days[w] = [None if monday is None else monday + timedelta(days=d) for d in range(5)]
    out = pd.DataFrame(
        {
            "upn": upn[row],
            "mark_date": days[weeks[row], cell // 2],
            "session": np.array(["AM", "PM"], dtype=object)[cell % 2],
            "code": cells[row, cell],
            "minutes_late": pd.array([pd.NA] * len(row), dtype="Int64"),
            "arrival_time": None,
            "source_file": table["_source_file"].to_numpy()[row],
            "source_row": table["_line"].to_numpy()[row].astype(np.int64),
            # Texts and None, kept as objects as the other formats' records are.
            "error": pd.Series(row_error.to_numpy()[row], dtype=object),
        }
    )
    return out[CANONICAL]
