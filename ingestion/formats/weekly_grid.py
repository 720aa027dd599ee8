"""`weekly_grid_csv`: one row per pupil per week (SPEC 3.2), `weekly_<ts>.csv`.

An empty cell says nothing about that session (the mark is neither set nor deleted); `-` means
the register was due and no mark was entered, which is a missing mark to report, not a code.
"""

from __future__ import annotations

import re
from datetime import timedelta

import numpy as np
import pandas as pd

from attendance.config import Academy
from ingestion.errors import FileRejected
from ingestion.files import Delivery
from ingestion.formats.table import (
    CANONICAL,
    by_value,
    first_error,
    parse_dates,
    read_table,
    strip_upper,
)

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri"]
CELLS = [f"{d} {s}" for d in DAYS for s in ("AM", "PM")]
COLUMNS = ["UPN", "Surname", "Forename", "Reg Group", "Week Beginning", *CELLS]
IDENTITY = re.compile(r"^\s*School:\s*(?P<name>.*?)\s*\((?P<laestab>\d{7})\)\s*,*\s*$")
MISSING_MARK = "-"


def parse(delivery: Delivery, academy: Academy) -> pd.DataFrame:
    (path,) = delivery.files
    table, preamble = read_table(path.read_bytes(), COLUMNS, skip_lines=1)
    m = IDENTITY.match(preamble[0] if preamble else "")
    if m is None:
        raise FileRejected("the first line must be 'School: <name> (<LAESTAB>)'", line=1)
    if m["laestab"] != academy.laestab:
        raise FileRejected(
            f"the file is for LAESTAB {m['laestab']}, not {academy.laestab} ({academy.name}) "
            "whose folder it is in",
            line=1,
        )
    week, bad_week = parse_dates(table["Week Beginning"], "%d/%m/%Y")
    row_error = pd.Series(None, index=table.index, dtype=object)
    row_error = first_error(row_error, bad_week, "Week Beginning is not a DD/MM/YYYY date")
    not_monday = week.map(lambda d: d is not None and d.weekday() != 0)
    row_error = first_error(row_error, not_monday.astype(bool), "Week Beginning is not a Monday")

    frames = []
    for offset, cell in enumerate(CELLS):
        values = by_value(table[cell].fillna(""), str.strip)
        said = values != ""
        if not said.any():
            continue
        part = table.loc[said]
        day_shift = timedelta(days=offset // 2)
        dates = week[said].map(lambda d, s=day_shift: None if d is None else d + s)
        frames.append(
            pd.DataFrame(
                {
                    "upn": by_value(part["UPN"], strip_upper),
                    "mark_date": dates,
                    "session": cell[-2:],
                    "code": values[said],
                    "minutes_late": pd.array([pd.NA] * int(said.sum()), dtype="Int64"),
                    "arrival_time": None,
                    "source_file": path.name,
                    "source_row": part["_line"].to_numpy(),
                    "error": row_error[said].to_numpy(),
                    "_cell": offset,
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CANONICAL})
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["source_row", "_cell"], kind="stable").reset_index(drop=True)
    out["source_row"] = out["source_row"].astype(np.int64)
    return out[CANONICAL]
