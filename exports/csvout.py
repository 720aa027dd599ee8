"""CSV as SPEC 7 fixes it: UTF-8, comma, header row, `\n`, ISO dates, and no text cell that a
spreadsheet would run as a formula."""

from __future__ import annotations

import io
from datetime import date, datetime

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Prefix a text cell that starts like a formula with an apostrophe, which spreadsheets
    show as text. Numbers are left alone: -3 sessions to spare is a number, not a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value: object) -> object:
    if value is None or value is pd.NaT or value is pd.NA:
        return ""
    if isinstance(value, float) and pd.isna(value):
        return ""
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(value)


def _text_only(column: pd.Series) -> bool:
    """Whether every value is text or missing: pandas' `str` dtype, or an object column (what
    DuckDB's results give) that holds nothing else, as pandas' C type inference tells."""
    if isinstance(column.dtype, pd.StringDtype):
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) in {
        "string",
        "empty",
    }


def _cells(column: pd.Series) -> pd.Series:
    """`_cell` for every value. A column of text and missing values only, and a naive
    datetime column of dates only (midnights), are done with vectorised operations (the same
    result, without a Python call per cell: the trust's CSVs have millions of cells)."""
    if _text_only(column):
        # pandas' str dtype keeps its (Arrow) strings; an object column stays object
        if isinstance(column.dtype, pd.StringDtype):
            text = column.fillna("")
        else:
            text = column.astype(object).where(column.notna(), "")
        formula = text.str.startswith(FORMULA_STARTS)
        if formula.any():
            text = text.where(~formula, "'" + text)
        return text
    if _dates_only(column):
        return column.dt.strftime("%Y-%m-%d").astype(object).where(column.notna(), "")
    return column.astype(object).map(_cell)


def _dates_only(column: pd.Series) -> bool:
    """A naive datetime column whose every value is a midnight (or missing): what `_cell`
    writes as an ISO date."""
    if not (pd.api.types.is_datetime64_dtype(column.dtype) and column.dt.tz is None):
        return False
    present = column.dropna()
    return bool((present == present.dt.normalize()).all())


def csv_bytes(frame: pd.DataFrame) -> bytes:
    out = frame.copy()
    for col in out.columns:
        # Every text-like column: object, and pandas 3's default `str` dtype, which an
        # object-only test would let through un-neutralised.
        dtype = out[col].dtype
        if (
            pd.api.types.is_object_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype)
            or str(dtype).startswith("datetime")
        ):
            out[col] = _cells(out[col])
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue().encode("utf-8")
