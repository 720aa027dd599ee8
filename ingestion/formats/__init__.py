"""Parsers, one per MIS family (SPEC 3.2). Each turns a delivery into the canonical columns:
upn, mark_date, session, code, minutes_late, arrival_time, source_file, source_row, error.
`error` holds the first reason a record cannot be read; validation adds the rest."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pyarrow as pa

from attendance.config import Academy
from ingestion.files import Delivery
from ingestion.formats import api_json, arbor_csv, long_csv, weekly_grid

Parser = Callable[[Delivery, Academy], pd.DataFrame]
Reader = Callable[[Delivery, Academy], pa.Table]
Shaper = Callable[[pd.DataFrame, Academy], pd.DataFrame]

PARSERS: dict[str, Parser] = {
    "long_csv": long_csv.parse,
    "arbor_csv": arbor_csv.parse,
    "weekly_grid_csv": weekly_grid.parse,
    "api_json": api_json.parse,
}

# The CSV families also come in two halves, so that ingestion can read each file on its own
# (a file is rejected whole) and shape the rows of many files in one pass: `read` gives the
# file's rows as Arrow strings with `_line`, `stack_rows` makes many files' rows one frame
# with each row's `_source_file`, and `shape` turns such a frame into canonical records;
# `parse` is shape(stack_rows([read(...)])).
TABLES: dict[str, tuple[Reader, Shaper]] = {
    "long_csv": (long_csv.read, long_csv.shape),
    "arbor_csv": (arbor_csv.read, arbor_csv.shape),
    "weekly_grid_csv": (weekly_grid.read, weekly_grid.shape),
}
