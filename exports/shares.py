"""The DfE daily data share (SPEC 7.1) and the LA data share (SPEC 7.2)."""

from __future__ import annotations

from datetime import date

import pandas as pd

DFE_COLUMNS = ["laestab", "urn", "upn", "attendance_date", "session", "attendance_code", "amended"]

LA_COLUMNS = [
    "laestab",
    "urn",
    "upn",
    "surname",
    "forename",
    "date_of_birth",
    "nc_year",
    "gender",
    "fsm",
    "sen",
    "in_dfe_scope",
    "possible_sessions",
    "attended_sessions",
    "authorised_absence_sessions",
    "unauthorised_absence_sessions",
    "attendance_pct",
    "absence_pct",
    "persistent_absentee",
    "severely_absent",
    "rolling_unauthorised_sessions",
    "penalty_threshold_met",
    "consecutive_unexplained_days",
    "cme_referral_due",
    "stage",
    "stage_name",
    "stage_since",
]
FLAGS = [
    "in_dfe_scope",
    "persistent_absentee",
    "severely_absent",
    "penalty_threshold_met",
    "cme_referral_due",
]


def dfe_path(laestab: str, run_date: date) -> tuple[str, str]:
    d = run_date.isoformat()
    return f"dfe/{d}", f"{laestab}_attendance_{d}.csv"


def dfe_share(marks: pd.DataFrame) -> pd.DataFrame:
    """One academy's rows, sorted by upn, date, session."""
    return marks.sort_values(["upn", "attendance_date", "session"], kind="stable")[DFE_COLUMNS]


def la_path(la_code: str, run_date: date) -> tuple[str, str]:
    d = run_date.isoformat()
    return f"la/{la_code}/{d}", f"pupil_attendance_{la_code}_{d}.csv"


def _pct(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.1f}"


def la_share(status: pd.DataFrame) -> pd.DataFrame:
    """One LA's rows: pupils on roll on D at the trust's academies in that LA."""
    out = status.copy()
    for flag in FLAGS:
        out[flag] = out[flag].map(lambda v: "Y" if bool(v) else "N")
    out["attendance_pct"] = out["attendance_pct"].map(_pct)
    out["absence_pct"] = out["absence_pct"].map(_pct)
    out["stage"] = out["stage"].fillna(0).astype(int)
    out["stage_name"] = out["stage_name"].fillna("No action")
    return out.sort_values(["laestab", "upn"], kind="stable")[LA_COLUMNS]
