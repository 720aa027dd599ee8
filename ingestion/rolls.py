"""Pupil rolls (SPEC 3.1): full snapshots; the latest one known on a date is the roll."""

from __future__ import annotations

import re

import pandas as pd

from attendance.upn import upn_problem
from ingestion.files import Delivery
from ingestion.formats.table import by_value, first_error, map_unique, parse_dates, read_table

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
    """(valid roll rows, rejected rows with reasons). Raises FileRejected for unreadable files."""
    (path,) = delivery.files
    table, _ = read_table(path.read_bytes(), COLUMNS)
    for col in COLUMNS:
        table[col] = by_value(table[col], str.strip)
    error = pd.Series(None, index=table.index, dtype=object)
    error = first_error(error, table["_short"], "the row has fewer fields than the header")
    error = error.where(error.notna(), map_unique(by_value(table["UPN"], str.upper), upn_problem))
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
    duplicate = by_value(table["UPN"], str.upper).duplicated(keep=False) & error.isna()
    error = first_error(error, duplicate, "the UPN appears more than once in the roll")

    roll = table.rename(columns=OUT)[list(OUT.values())].copy()
    roll["upn"] = by_value(roll["upn"], str.upper)
    roll["date_of_birth"] = dob
    roll["entry_date"] = entry
    roll["leaving_date"] = leaving
    roll["source_file"] = path.name
    roll["source_row"] = table["_line"]
    roll["extracted_at"] = delivery.extracted_at
    good = roll.loc[error.isna()].reset_index(drop=True)
    bad = pd.DataFrame(
        {
            "source_file": path.name,
            "source_row": table.loc[error.notna(), "_line"],
            "upn": roll.loc[error.notna(), "upn"],
            "severity": "error",
            "status": "rejected",
            "reason": error[error.notna()],
        }
    )
    return good, bad
