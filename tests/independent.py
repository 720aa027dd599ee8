"""An independent calculation of the year-to-date measures from ground-truth marks.

Written from codes.md directly, sharing no code with the platform (not the seed, not the
models), so agreement between the two means something.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

PRESENT = {"/", "\\", "L"}
AEA_2024 = {"K", "V", "P", "W", "B"}
AEA_OLD = {"B", "J", "P", "V", "W"}
AUTH_2024 = {"C1", "M", "J1", "S", "C2", "C", "T", "R", "I", "E"}
AUTH_OLD = {"C", "E", "H", "F", "I", "M", "R", "S", "T"}
UNAUTH = {"G", "N", "O", "U"}
NEW_SET_FROM = date(2024, 8, 19)


def category(code: str, on: date) -> str:
    new = on >= NEW_SET_FROM
    if code in PRESENT or code in (AEA_2024 if new else AEA_OLD):
        return "attended"
    if code in (AUTH_2024 if new else AUTH_OLD):
        return "authorised"
    if code in UNAUTH:
        return "unauthorised"
    return "not_possible"


def marks_as_of(truth: pd.DataFrame, run_date: date) -> pd.DataFrame:
    """The winning mark per key among versions extracted on or before the run date."""
    t = truth.copy()
    t["mark_date"] = pd.to_datetime(t["mark_date"]).dt.date
    t["extracted_at"] = pd.to_datetime(t["extracted_at"])
    t = t[(t["extracted_at"].dt.date <= run_date) & (t["mark_date"] <= run_date)]
    t = t.sort_values("extracted_at").drop_duplicates(
        ["urn", "upn", "mark_date", "session"], keep="last"
    )
    return t


def year_to_date(truth: pd.DataFrame, run_date: date) -> pd.DataFrame:
    start = date(run_date.year if run_date.month >= 9 else run_date.year - 1, 9, 1)
    t = marks_as_of(truth, run_date)
    t = t[t["mark_date"] >= start].copy()
    t["cat"] = [category(c, d) for c, d in zip(t["code"], t["mark_date"], strict=True)]
    counts = pd.crosstab([t["urn"], t["upn"]], t["cat"])
    for col in ("attended", "authorised", "unauthorised", "not_possible"):
        if col not in counts:
            counts[col] = 0
    counts["possible"] = counts["attended"] + counts["authorised"] + counts["unauthorised"]
    counts["absence"] = counts["authorised"] + counts["unauthorised"]
    return counts.reset_index()
