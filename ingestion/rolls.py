"""Pupil rolls (SPEC 3.1): full snapshots; the latest one known on a date is the roll."""

from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa

from attendance.upn import upn_problems
from ingestion.errors import FileRejected
from ingestion.files import Delivery
from ingestion.formats.table import (
    by_value,
    first_error,
    map_unique,
    map_unique_together,
    parse_dates,
    read_rows,
    stack_rows,
)

COLUMNS = [
    "UPN",
    "Surname",
    "Forename",
    "Date of Birth",
    "Gender",
    "NC Year",
    "Reg Group",
    "Entry Date",
    "Leaving Date",
    "FSM",
    "SEN",
    "EAL",
    "Ethnicity",
    "Home LA",
]
NC_YEARS = {"N1", "N2", "R", *[str(n) for n in range(1, 15)]}
REPEATED_ROW = "the same pupil row appears twice in the roll (kept once)"
CARRIED_ROW = "the pupil's row is rejected: their row from the previous roll is kept"
OUT = {
    "UPN": "upn",
    "Surname": "surname",
    "Forename": "forename",
    "Gender": "gender",
    "NC Year": "nc_year",
    "Reg Group": "reg_group",
    "FSM": "fsm",
    "SEN": "sen",
    "EAL": "eal",
    "Ethnicity": "ethnicity",
    "Home LA": "home_la",
}


def parse_roll(delivery: Delivery) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(valid roll rows, rows noted with reasons: rejected, or repeated whole and kept once).
    Raises FileRejected for unreadable files."""
    (result,) = parse_rolls([delivery])
    if isinstance(result, FileRejected):
        raise result
    return result


Parsed = tuple[pd.DataFrame, pd.DataFrame] | FileRejected


def parse_rolls(deliveries: list[Delivery]) -> list[Parsed]:
    """`parse_roll` for many snapshots: for each, its (valid rows, rows noted), or the
    FileRejected that makes it unreadable. The readable ones are checked stacked, one pandas
    call per check for them all: a snapshot is a few hundred rows, so checking each alone was
    mostly pandas' cost per call (an academy's year of 39 snapshots one by one: 1.0 CPU-s,
    more than the checks of its 195 register files)."""
    results: list[Parsed | None] = [None] * len(deliveries)
    tables: list[pa.Table] = []
    readable: list[int] = []
    for i, delivery in enumerate(deliveries):
        (path,) = delivery.files
        try:
            table, _ = read_rows(path.read_bytes(), COLUMNS)
        except FileRejected as exc:
            results[i] = exc
            continue
        tables.append(table)
        readable.append(i)
    if tables:
        checked = _check([deliveries[i] for i in readable], tables)
        for i, result in zip(readable, checked, strict=True):
            results[i] = result
    return [r for r in results if r is not None]


def _check(
    deliveries: list[Delivery], tables: list[pa.Table]
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """The rows of every snapshot checked together; each snapshot's parts cut back out."""
    part = np.repeat(np.arange(len(tables)), [t.num_rows for t in tables])
    table = stack_rows(tables, [d.files[0].name for d in deliveries])
    for col in COLUMNS:
        table[col] = by_value(table[col], str.strip)
    upn = by_value(table["UPN"], str.upper)
    error = pd.Series(None, index=table.index, dtype=object)
    error = first_error(error, table["_short"], "the row has fewer fields than the header")
    error = error.where(error.notna(), map_unique_together(upn, upn_problems))
    dob, bad_dob = parse_dates(table["Date of Birth"], "%Y-%m-%d")
    entry, bad_entry = parse_dates(table["Entry Date"], "%Y-%m-%d")
    leaving, bad_leaving = parse_dates(table["Leaving Date"], "%Y-%m-%d")
    error = first_error(error, bad_dob, "Date of Birth is not a YYYY-MM-DD date")
    error = first_error(error, bad_entry, "Entry Date is not a YYYY-MM-DD date")
    error = first_error(
        error, bad_leaving & (table["Leaving Date"] != ""), "Leaving Date is not a YYYY-MM-DD date"
    )
    error = first_error(
        error, ~table["NC Year"].isin(NC_YEARS), "NC Year must be N1, N2, R or 1-14"
    )
    error = first_error(error, ~table["FSM"].isin(["Y", "N"]), "FSM must be Y or N")
    error = first_error(error, ~table["SEN"].isin(["N", "K", "E"]), "SEN must be N, K or E")
    error = first_error(error, ~table["EAL"].isin(["Y", "N"]), "EAL must be Y or N")
    error = first_error(
        error,
        ~map_unique(table["Home LA"], lambda v: bool(re.fullmatch(r"\d{3}", v))).astype(bool),
        "Home LA must be 3 digits",
    )
    # Once in its own snapshot: the same pupil is in every snapshot of the year. Rows of one
    # UPN that differ cannot both be right, and neither can be believed over the other: all
    # are rejected. A valid row repeated whole (an export joining a table twice) is one pupil
    # said twice: kept once, with a warning. Rejecting it would take the child off the roll,
    # and off every list built on it, for a glitch that leaves no doubt about the pupil.
    keys = pd.DataFrame({"part": part, "upn": upn})
    first = ~table[COLUMNS].assign(UPN=upn, _part=part).duplicated(keep="first")
    clashing = pd.MultiIndex.from_frame(keys[first][keys[first].duplicated(keep=False)])
    duplicate = pd.MultiIndex.from_frame(keys).isin(clashing)
    repeated = ~first & ~duplicate & error.isna()
    error = first_error(
        error, duplicate & error.isna(), "the UPN appears more than once in the roll"
    )

    times = pd.Series([d.extracted_at for d in deliveries])
    roll = table.rename(columns=OUT)[list(OUT.values())]
    roll["upn"] = upn
    roll["date_of_birth"] = dob
    roll["entry_date"] = entry
    roll["leaving_date"] = leaving
    # As a text column even when no snapshot has rows (what assigning one name gives).
    roll["source_file"] = table["_source_file"].astype("str")
    roll["source_row"] = table["_line"]
    roll["extracted_at"] = times.iloc[part].to_numpy()
    failed = error.notna().to_numpy()
    noted = failed | repeated.to_numpy()
    good_all = roll.loc[~noted]
    bad_all = pd.DataFrame(
        {
            "source_file": roll["source_file"],
            "source_row": table["_line"],
            "upn": roll["upn"],
            "severity": np.where(failed, "error", "warning"),
            # As the marks' repeats are: the record is loaded (once), the copy noted.
            "status": np.where(failed, "rejected", "loaded"),
            "reason": error.where(failed, REPEATED_ROW),
        }
    ).loc[noted]
    good_cuts = np.searchsorted(part[~noted], np.arange(len(tables) + 1))
    bad_cuts = np.searchsorted(part[noted], np.arange(len(tables) + 1))
    out = []
    for i in range(len(tables)):
        good = good_all.iloc[good_cuts[i] : good_cuts[i + 1]].reset_index(drop=True)
        bad = bad_all.iloc[bad_cuts[i] : bad_cuts[i + 1]].reset_index(drop=True)
        out.append((good, bad))
    return out


def carry_forward(
    good: pd.DataFrame,
    noted: pd.DataFrame,
    previous: pd.DataFrame | None,
    extracted_at: datetime,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A snapshot's (valid rows, rows noted) with the previous snapshot's row of each pupil
    whose every row here is rejected carried into it, and a warning for each beside the error.

    A snapshot is the whole roll, so a pupil missing from it has left it. A pupil whose row is
    rejected (an impossible NC Year, two rows that differ) has not: their row simply cannot
    be believed, and dropping them took the child off the roll, the priority list and the LA
    share for as long as the MIS kept the fault (the benchmark's messy trust: six academies
    lost a child each). So the row the previous snapshot stored for them stands, with this
    snapshot's extraction time (it is part of this roll) and its own file and row as
    provenance, until a valid row arrives; the error stays in quarantine, and the warning
    tells the school which row is in use. A pupil the previous snapshot did not hold (a
    joiner whose first row is wrong) is not on the roll, as before: there is nothing to trust.
    Nor is anything carried into a snapshot with no valid row at all: its file stays empty, and
    the roll in force stays the previous snapshot whole (macros/rolls.sql steps back past empty
    snapshots), rather than a roll of only the pupils this one happened to list.
    """
    if previous is None or previous.empty or noted.empty or good.empty:
        return good, noted
    rejected = noted[noted["status"] == "rejected"].drop_duplicates("upn")
    rejected = rejected[rejected["upn"].notna() & ~rejected["upn"].isin(good["upn"])]
    carried = previous[previous["upn"].isin(rejected["upn"])]
    if carried.empty:
        return good, noted
    carried = carried[list(good.columns)].assign(extracted_at=pd.Timestamp(extracted_at))
    good = pd.concat([good, carried], ignore_index=True)
    warnings = rejected[rejected["upn"].isin(carried["upn"])].assign(
        severity="warning", status="loaded", reason=CARRIED_ROW
    )
    # Each warning right after the error on the same row.
    noted = pd.concat([noted, warnings], ignore_index=True)
    noted = noted.sort_values("source_row", kind="stable").reset_index(drop=True)
    return good, noted
