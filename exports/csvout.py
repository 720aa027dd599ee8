"""CSV as SPEC 7 fixes it: UTF-8, comma, header row, `\n`, ISO dates, and no text cell that a
spreadsheet would run as a formula."""

from __future__ import annotations

import csv
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


def _plain_cells(column: pd.Series) -> list | None:
    """The column's cells for `csv.writer` as `to_csv` would write them after `_cells`: text
    (neutralised, missing as empty) and whole numbers without missing values; None for
    anything else (floats, booleans, times of day), which `to_csv` formats itself."""
    dtype = column.dtype
    if pd.api.types.is_integer_dtype(dtype) and not isinstance(
        dtype, pd.api.extensions.ExtensionDtype
    ):
        return column.tolist()  # numpy ints: the writer's str() is to_csv's
    if _text_only(column):
        # anything but text is a missing value here (None, NaN, pd.NA): an empty cell
        return [
            ("'" + v if v.startswith(FORMULA_STARTS) else v) if isinstance(v, str) else ""
            for v in column.tolist()
        ]
    if _dates_only(column):
        return _cells(column).tolist()
    return None


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """The frame as SPEC 7's CSV. Text, whole numbers and dates (every column of the
    schools' files) are written row by row with the `csv` module, the writer `to_csv` uses,
    with its settings: pandas' cost per column was most of the time of a school's two CSVs;
    a frame with any other column goes through `to_csv`."""
    plain = len(frame.columns) and not frame.columns.has_duplicates
    columns = [_plain_cells(frame[col]) for col in frame.columns] if plain else [None]
    if all(c is not None for c in columns):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(frame.columns)
        writer.writerows(zip(*columns, strict=True))
        return buffer.getvalue().encode("utf-8")
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
