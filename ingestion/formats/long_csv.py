"""`long_csv`: one row per pupil per session (SPEC 3.2), `registers_<ts>.csv`."""

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
    late_fields_from_minutes,
    parse_dates,
    read_rows,
    register_start_minutes,
    stack_rows,
    strip_upper,
)

COLUMNS = [
    "LAESTAB",
    "UPN",
    "Surname",
    "Forename",
    "Reg Group",
    "Date",
    "Session",
    "Mark",
    "Minutes Late",
]


def parse(delivery: Delivery, academy: Academy) -> pd.DataFrame:
    return shape(stack_rows([read(delivery, academy)], [delivery.files[0].name]), academy)


def read(delivery: Delivery, academy: Academy) -> pa.Table:
    """The file's rows as strings with `_line` (`read_rows`); rejects a file that cannot be
    read or is another academy's."""
    (path,) = delivery.files
    table, _ = read_rows(path.read_bytes(), COLUMNS)
    identities = distinct_texts(table["LAESTAB"])
    if identities and identities != {academy.laestab}:
        others = ", ".join(sorted(identities - {academy.laestab})) or "none"
        raise FileRejected(
            f"the file is for LAESTAB {others}, not {academy.laestab} ({academy.name}) "
            "whose folder it is in"
        )
    return table


def shape(table: pd.DataFrame, academy: Academy) -> pd.DataFrame:
    """`read`'s rows (of one file or of many, stacked) in the canonical columns."""
    error = pd.Series(None, index=table.index, dtype=object)
    error = first_error(error, by_value(table["LAESTAB"], str.strip) == "", "LAESTAB is blank")
    dates, bad_date = parse_dates(table["Date"], "%d/%m/%Y")
    error = first_error(error, bad_date, "Date is not a DD/MM/YYYY date")
    session = by_value(table["Session"], strip_upper)
    error = first_error(error, ~session.isin(["AM", "PM"]), "Session must be AM or PM")
    start = register_start_minutes(academy.registers, session)
    minutes, arrival, bad_minutes = late_fields_from_minutes(table["Minutes Late"], start)
    error = first_error(error, bad_minutes, "Minutes Late must be blank or a whole number")
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
