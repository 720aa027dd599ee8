"""Parsers, one per MIS family (SPEC 3.2). Each turns a delivery into the canonical columns:
upn, mark_date, session, code, minutes_late, arrival_time, source_file, source_row, error.
`error` holds the first reason a record cannot be read; validation adds the rest."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from attendance.config import Academy
from ingestion.files import Delivery
from ingestion.formats import api_json, arbor_csv, long_csv, weekly_grid

Parser = Callable[[Delivery, Academy], pd.DataFrame]

PARSERS: dict[str, Parser] = {
    "long_csv": long_csv.parse,
    "arbor_csv": arbor_csv.parse,
    "weekly_grid_csv": weekly_grid.parse,
    "api_json": api_json.parse,
}
