"""`arbor_csv`: one row per pupil per session (SPEC 3.2), `attendance_<ts>.csv`."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from attendance.config import Academy
from ingestion.errors import FileRejected
from ingestion.files import Delivery
from ingestion.formats.table import (
    by_value,
    canonical,
    distinct_texts,
    first_error,
    late_fields_from_arrival,
    parse_dates,
    read_rows,
    register_start_minutes,
    stack_rows,
    strip_upper,
)

COLUMNS = [
    "School URN",
    "Student ID",
    "UPN",
    "Legal First Name",
    "Legal Last Name",
    "Year Group",
    "Attendance Date",
    "Session",
    "Mark",
    "Arrival Time",
]
SESSIONS = {"MORNING": "AM", "AFTERNOON": "PM"}


def parse(delivery: Delivery, academy: Academy) -> pd.DataFrame:
    return shape(stack_rows([read(delivery, academy)], [delivery.files[0].name]), academy)


def read(delivery: Delivery, academy: Academy) -> pa.Table:
    """The file's rows as strings with `_line` (`read_rows`); rejects a file that cannot be
    read or is another academy's."""
    (path,) = delivery.files
    table, _ = read_rows(path.read_bytes(), COLUMNS)
    identities = distinct_texts(table["School URN"])
    if identities and identities != {academy.urn}:
        others = ", ".join(sorted(identities - {academy.urn})) or "none"
        raise FileRejected(
            f"the file is for School URN {others}, not {academy.urn} ({academy.name}) "
            "whose folder it is in"
        )
    return table


def shape(table: pd.DataFrame, academy: Academy) -> pd.DataFrame:
    """`read`'s rows (of one file or of many, stacked) in the canonical columns."""
    error = pd.Series(None, index=table.index, dtype=object)
    blank = by_value(table["School URN"], str.strip) == ""
    error = first_error(error, blank, "School URN is blank")
    dates, bad_date = parse_dates(table["Attendance Date"], "%Y-%m-%d")
    error = first_error(error, bad_date, "Attendance Date is not a YYYY-MM-DD date")
    session = by_value(table["Session"], strip_upper).map(SESSIONS)
    error = first_error(error, session.isna(), "Session must be Morning or Afternoon")
    start = register_start_minutes(academy.registers, session)
    minutes, arrival, bad_time = late_fields_from_arrival(table["Arrival Time"], start)
    error = first_error(error, bad_time, "Arrival Time must be blank or HH:MM")
    return canonical(
        table,
        table["_source_file"],
        table["UPN"],
        dates,
        session,
        table["Mark"],
        minutes,
        arrival,
        error,
    )
