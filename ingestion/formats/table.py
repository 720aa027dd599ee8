"""Reading a CSV export into a table of strings that remembers each record's line number.

Real MIS exports have extra or reordered columns, trailing blank lines, quoted fields holding
commas and line breaks, and names in any script; errors must name the physical line a person
sees when they open the file, which is not the record number once a field holds a line break.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ingestion.decode import decode_export
from ingestion.errors import FileRejected

# A register's times when the registry gives none.
REGISTER_DEFAULTS = {
    "am_start": "08:45",
    "am_late": "09:00",
    "am_close": "09:15",
    "pm_start": "13:00",
    "pm_late": "13:15",
    "pm_close": "13:30",
}

CANONICAL = [
    "upn",
    "mark_date",
    "session",
    "code",
    "minutes_late",
    "arrival_time",
    "source_file",
    "source_row",
    "error",
]


def read_rows(raw: bytes, required: list[str], skip_lines: int = 0) -> tuple[pa.Table, list[str]]:
    """Rows as strings keyed by header name, plus `_line` (the physical line) and `_short`
    (the row had fewer fields than the header); and the text's preamble lines. As Arrow:
    a batch's files are stacked before pandas sees them (`stack_rows`).

    Raises FileRejected for what makes the whole file unreadable: empty, no header, missing
    required columns, broken quoting, or a last record cut short (a truncated transfer).
    """
    if not raw.strip():
        raise FileRejected("the file is empty")
    text, _ = decode_export(raw)
    lines = io.StringIO(text, newline="")
    preamble = [lines.readline().rstrip("\r\n") for _ in range(skip_lines)]
    body = lines.read()
    for fast_path in (_read_arrow, _read_unquoted):
        fast = fast_path(body, required, skip_lines)
        if fast is not None:
            return _as_rows(fast, required), preamble
    lines = io.StringIO(body, newline="")
    reader = csv.reader(lines, strict=True)  # a stray or unclosed quote must not swallow rows
    try:
        header = next(reader)
    except StopIteration as exc:
        raise FileRejected("the file has no header row") from exc
    except csv.Error as exc:
        raise FileRejected(f"the header row cannot be read: {exc}", line=skip_lines + 1) from exc
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        raise FileRejected(
            "missing column(s) " + ", ".join(missing) + f"; the header is: {','.join(header)}",
            line=skip_lines + 1,
        )
    positions = [header.index(c) for c in required]
    width = len(header)
    records: list[list[str]] = []
    line_numbers: list[int] = []
    short: list[int] = []
    previous = reader.line_num
    try:
        for row in reader:
            start = previous + 1 + skip_lines
            previous = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue  # blank lines, including trailing ones, carry nothing
            if len(row) < width:
                short.append(len(records))
                row = row + [""] * (width - len(row))
            records.append([row[p] for p in positions])
            line_numbers.append(start)
    except csv.Error as exc:
        raise FileRejected(
            f"the file cannot be parsed: {exc}", line=previous + 1 + skip_lines
        ) from exc
    if short and short[-1] == len(records) - 1 and not text.endswith(("\n", "\r")):
        raise FileRejected(
            "the file looks truncated: its last record is cut short with no line end",
            line=line_numbers[-1],
        )
    table = pd.DataFrame(records, columns=required, dtype=object)
    table["_line"] = np.asarray(line_numbers, dtype="int64")
    table["_short"] = False
    if short:
        table.loc[short, "_short"] = True
    return _as_rows(table, required), preamble


def _as_rows(table: pd.DataFrame | pa.Table, required: list[str]) -> pa.Table:
    """A file's rows with the one schema every reading path gives (the required columns as
    Arrow strings, `_line`, `_short`), so that any files' rows stack."""
    schema = pa.schema(
        [*((c, pa.string()) for c in required), ("_line", pa.int64()), ("_short", pa.bool_())]
    )
    if isinstance(table, pa.Table):
        return table.cast(schema)
    return pa.Table.from_pandas(table, schema=schema, preserve_index=False).replace_schema_metadata(
        None
    )


def stack_rows(tables: list[pa.Table], names: Sequence[str]) -> pd.DataFrame:
    """The rows of several files (`read_rows`, each file's name in `names`), stacked in order
    into one frame with each row's `_source_file`. Converting the stack to pandas once, not
    each file: pandas' cost per frame and per concatenated frame was about 0.5 ms a file, for
    a register file of a thousand rows (50 files, 29 ms against 3)."""
    stacked = pa.concat_tables(tables).to_pandas()
    owner = np.repeat(np.arange(len(tables)), [t.num_rows for t in tables])
    stacked["_source_file"] = spread(list(names), owner, stacked.index)
    return stacked


def distinct_texts(column: pa.ChunkedArray) -> set[str]:
    """A column's distinct values, stripped, without the blank one: the identities a file
    states (its LAESTAB or URN on every row)."""
    return {v.strip() for v in column.unique().to_pylist()} - {""}


_LINE_END = re.compile(r"\r\n|\r|\n")  # what csv.reader over StringIO(newline="") splits on


# Fields Python's str.strip() may remove entirely: ASCII white space (as str.isspace() has
# it), or any non-ASCII text, which `_read_arrow` then looks at in Python.
_MAYBE_BLANK = r"^[\t\x0b\x0c\x1c-\x1f ]*$"


def _read_arrow(body: str, required: list[str], skip_lines: int) -> pa.Table | None:
    """The usual export, split into fields by Arrow's CSV reader (C++), giving exactly what
    `_read_unquoted` gives, at a seventh of its cost (2,900 lines: 1.5 ms against 10).

    Taken only when the result cannot differ: no quote characters or NUL bytes, a header of
    more than one field holding the required columns, every line after it with the header's
    field count (an empty line has one field: so no empty line but the file's end), no field
    over csv's size limit. Then each line is one record and its position gives its line
    number; lines of commas and white space alone are records to drop, as csv.reader's
    caller does (`read_rows`). Anything else returns None for `_read_unquoted`.
    """
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    if '"' in body or "\x00" in body:
        return None
    end = _LINE_END.search(body)
    if end is None:
        return None
    header = [h.strip() for h in body[: end.start()].split(",")]
    if len(header) < 2 or any(c not in header for c in required):
        return None
    names = [f"f{i}" for i in range(len(header))]
    data = body[end.end() :].encode("utf-8")
    try:
        fields = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(quote_char=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid:
        return None  # a line of another width, or no line at all
    columns = fields.columns
    limit = csv.field_size_limit()
    # No field is longer than the text it is in: most files are shorter than the limit.
    if (
        len(data) > limit
        and fields.num_rows
        and max(pc.max(pc.binary_length(c)).as_py() for c in columns) > limit
    ):
        return None
    maybe_blank = np.ones(fields.num_rows, dtype=bool)
    for column in columns:  # usually the first column already rules every line out
        blankish = pc.or_(
            pc.match_substring_regex(column, _MAYBE_BLANK), pc.invert(pc.string_is_ascii(column))
        )
        maybe_blank &= blankish.to_numpy(zero_copy_only=False)
        if not maybe_blank.any():
            break
    keep = np.arange(fields.num_rows)
    if maybe_blank.any():
        candidates = np.flatnonzero(maybe_blank)
        rows = zip(*(c.take(candidates).to_pylist() for c in columns), strict=True)
        blank = [i for i, row in zip(candidates, rows, strict=True) if not "".join(row).strip()]
        keep = np.setdiff1d(keep, np.asarray(blank, dtype=np.int64))
    picked = pa.table({c: columns[header.index(c)] for c in required})
    if len(keep) < fields.num_rows:
        picked = picked.take(keep)
    # The header is physical line skip_lines + 1; data line i (0-based) follows it. (Added
    # as Arrow columns: inserting columns into the frame costs more than converting them.)
    picked = picked.append_column("_line", pa.array(keep.astype("int64") + skip_lines + 2))
    picked = picked.append_column("_short", pa.array(np.zeros(len(keep), dtype=bool)))
    return picked


def _read_unquoted(body: str, required: list[str], skip_lines: int) -> pd.DataFrame | None:
    """The common case, read with string splitting in C instead of a Python loop per row.

    Without any quote character a record is exactly one physical line and its fields are the
    text between commas, so the result (rows, values, line numbers) is what csv.reader gives.
    Anything else returns None and the csv.reader path decides, errors included: quotes,
    NUL bytes, fields over csv's size limit, a missing column, or any row whose field count
    differs from the header's (short, long, or a truncated last record).
    """
    if '"' in body or "\x00" in body or not body:
        return None
    physical = _LINE_END.split(body)
    if max(map(len, physical)) > csv.field_size_limit():
        return None
    header = [h.strip() for h in physical[0].split(",")]
    if any(c not in header for c in required):
        return None
    width = len(header)
    data = physical[1:]
    # Blank lines (trailing ones included) carry nothing; their line numbers still count.
    keep = [i for i, line in enumerate(data) if line.replace(",", "").strip()]
    rows = [data[i] for i in keep]
    if any(line.count(",") != width - 1 for line in rows):
        return None
    cells = np.array(",".join(rows).split(",") if rows else [], dtype=object)
    grid = cells.reshape(len(rows), width)[:, [header.index(c) for c in required]]
    table = pd.DataFrame(grid, columns=required, dtype=object)
    # The header is physical line skip_lines + 1; data line i (0-based) follows it.
    table["_line"] = np.asarray(keep, dtype="int64") + skip_lines + 2
    table["_short"] = False
    return table


def spread(
    values: Sequence[Any], positions: np.ndarray, index: pd.Index | None = None
) -> pd.Series:
    """`pd.Series(np.asarray(values, dtype=object)[positions], index=index)`: the same values
    and dtype, made from the few distinct values instead of one Python object per record.

    With pandas 3's Arrow-backed strings, a column of a delivery's URN, key or file name, or
    of a mapped value, was a Python object per record converted to Arrow one by one (with the
    rest of such conversions, 7.5% of ingestion's samples; 3.8% since); taking the distinct
    values by position is one call in C. A position of -1 gives None, as `pd.factorize`'s
    sentinel does. The dtype pandas infers is the one it infers for the values themselves
    (None among them only when a position is -1), so it is the dtype of the record-by-record
    form whenever every value is taken (`map_unique`) or the values are all texts (the
    callers' URNs, keys, names and messages)."""
    positions = np.asarray(positions)
    if len(positions) == 0:
        return pd.Series(np.empty(0, dtype=object), index=index)
    small = np.empty(len(values) + 1, dtype=object)
    small[:-1] = values
    small[-1] = None
    missing = positions < 0
    if missing.any():
        distinct = pd.Series(small)
        positions = np.where(missing, len(values), positions)
    else:
        distinct = pd.Series(small[:-1])
    return pd.Series(distinct.array.take(positions), index=index)


def map_unique(values: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """`values.map(fn)` with `fn` called once per distinct value: exports repeat the same
    UPNs, dates and times thousands of times, and `fn` is Python. Missing values give None.
    The distinct values are taken as a list: iterating the Index `factorize` returns boxes
    each element (about 0.8 us apiece, more than a cached `fn` costs), `tolist` gives the
    same objects at once."""
    positions, uniques = pd.factorize(values, use_na_sentinel=True)
    return spread([fn(v) for v in uniques.tolist()], positions, values.index)


def map_unique_together(values: pd.Series, fn: Callable[[list], list]) -> pd.Series:
    """`map_unique` with `fn` given every distinct value at once (a list) and returning their
    results in order: for checks done faster together (attendance.upn.upn_problems)."""
    positions, uniques = pd.factorize(values, use_na_sentinel=True)
    return spread(fn(uniques.tolist()), positions, values.index)


def by_value(values: pd.Series, fn: Callable[[str], Any]) -> pd.Series:
    """`values.str.<op>()` done once per distinct value (`fn`, such as `str.strip`): a column of
    an export holds a few distinct sessions, codes or identities thousands of times, and the
    `.str` accessor calls Python once per record. Missing values stay missing (NaN), as with
    `.str`."""
    positions, uniques = pd.factorize(values, use_na_sentinel=True)
    results = np.empty(len(uniques) + 1, dtype=object)
    results[:-1] = [fn(v) for v in uniques.tolist()]
    results[-1] = np.nan
    return pd.Series(results[positions], index=values.index, dtype=object)


def strip_upper(value: str) -> str:
    return value.strip().upper()


@lru_cache(maxsize=1 << 16)
def parse_date(text: str, fmt: str) -> date | None:
    """Cached: every roll snapshot repeats the same dates of birth and entry."""
    try:
        return datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def parse_dates(values: pd.Series, fmt: str) -> tuple[pd.Series, pd.Series]:
    """Dates and a mask of values that did not parse. Parsed by unique value: exports repeat
    the same few dates thousands of times."""
    parsed = map_unique(values, lambda v: parse_date(str(v).strip(), fmt))
    return parsed, parsed.isna()


def clock_minutes(value: str) -> int | None:
    try:
        t = time.fromisoformat(value.strip())
    except ValueError:
        return None
    return t.hour * 60 + t.minute


def empty_canonical() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in CANONICAL})


def first_error(current: pd.Series, mask: Any, reason: str | pd.Series) -> pd.Series:
    """Keep the first reason a record fails: the one a person should fix first. `reason` is
    one text, or a text per record (aligned with `current`)."""
    return current.where(current.notna() | ~mask, reason)


def per_session(session: pd.Series, am: Any, pm: Any) -> pd.Series:
    """`am` for each AM record, `pm` for each PM one, NaN for any other: the register's times
    by record (one time each, or one per record). (Compared in C: `Series.map` with a dict
    went value by value over the Arrow strings, about a second of four academies' year.)"""
    is_am = (session == "AM").to_numpy(dtype=bool, na_value=False)
    is_pm = (session == "PM").to_numpy(dtype=bool, na_value=False)
    am, pm = np.asarray(am, dtype=float), np.asarray(pm, dtype=float)
    values = np.where(is_am, am, np.where(is_pm, pm, np.nan))
    return pd.Series(values, index=session.index)


def register_clock(registers: dict[str, str], time: str) -> tuple[int, int]:
    """The academy's AM and PM register `time` (start, late or close) in minutes after
    midnight: the registry's am_<time> / pm_<time>, else REGISTER_DEFAULTS."""
    am = clock_minutes(registers.get(f"am_{time}", REGISTER_DEFAULTS[f"am_{time}"])) or 0
    pm = clock_minutes(registers.get(f"pm_{time}", REGISTER_DEFAULTS[f"pm_{time}"])) or 0
    return am, pm


def register_minutes(registers: dict[str, str], session: pd.Series, time: str) -> pd.Series:
    """Minutes after midnight of each record's session `time` (`register_clock`)."""
    return per_session(session, *register_clock(registers, time))


def register_start_minutes(registers: dict[str, str], session: pd.Series) -> pd.Series:
    """Minutes after midnight of each session's start (am_start / pm_start in the registry)."""
    return register_minutes(registers, session, "start")


def canonical(
    table: pd.DataFrame,
    source_file: pd.Series,
    upn: pd.Series,
    mark_date: pd.Series,
    session: pd.Series,
    code: pd.Series,
    minutes_late: pd.Series,
    arrival_time: pd.Series,
    error: pd.Series,
) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "upn": map_unique(upn, lambda v: v.strip().upper()),
            "mark_date": mark_date,
            "session": session,
            "code": map_unique(code, str.strip),
            "minutes_late": minutes_late.astype("Int64"),
            "arrival_time": arrival_time,
            "source_file": source_file,
            "source_row": table["_line"].to_numpy(),
            "error": error,
        }
    )
    short = table["_short"].to_numpy()
    if short.any():
        out.loc[short, "error"] = out.loc[short, "error"].fillna(
            "the row has fewer fields than the header"
        )
    return out[CANONICAL]


def late_fields_from_minutes(
    minutes_text: pd.Series, start: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(minutes late, arrival HH:MM, bad mask) from a 'Minutes Late' column."""
    text = by_value(minutes_text.fillna(""), str.strip)
    numeric = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (text != "") & (numeric.isna() | (numeric < 0) | (numeric % 1 != 0))
    minutes = numeric.where(~bad)
    arrival_total = start + minutes
    arrival = map_unique(arrival_total, lambda m: f"{int(m) // 60:02d}:{int(m) % 60:02d}")
    return minutes, arrival, bad


def late_fields_from_arrival(
    arrival_text: pd.Series, start: pd.Series
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(minutes late, arrival HH:MM, bad mask) from an 'Arrival Time' column."""
    text = by_value(arrival_text.fillna(""), str.strip)
    clock = map_unique(text, lambda v: clock_minutes(v) if v else None)
    bad = (text != "") & clock.isna()
    minutes = (clock.astype("float64") - start).clip(lower=0)
    arrival = map_unique(text.where((text != "") & ~bad), lambda v: v[:5])
    return minutes, arrival, bad
