"""The school priority list (SPEC 7.3): who needs attention today, most urgent first, and why,
in words a parent could be told."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from attendance.thresholds import thresholds

# The order of SPEC 7.3: severe absence, children missing education, persistent absence,
# the penalty-notice threshold, then any escalation stage.
REASONS = [
    ("severely_absent", "Severely absent"),
    ("cme_referral_due", "Children missing education referral due"),
    ("persistent_absentee", "Persistently absent"),
    ("penalty_threshold_met", "Penalty notice threshold"),
    ("on_stage", "Attendance stage"),
]

COLUMNS = [
    "rank",
    "priority",
    "reasons",
    "upn",
    "name",
    "year",
    "reg_group",
    "attendance_pct_ytd",
    "absence_sessions",
    "unauthorised_sessions",
    "rolling_absence_sessions",
    "rolling_unauthorised_sessions",
    "band",
    "stage",
    "stage_name",
    "action_now_due",
    "school_days_at_stage",
    "new_since_previous_school_day",
    "attendance_pct_last_4_weeks",
    "trend_4_weeks",
    "sessions_to_spare",
    "fsm",
    "sen",
    "explanation",
]


# Every column explain, action_now_due and _trend read.
WORDS_FROM = [
    *(flag for flag, _ in REASONS),
    "possible_sessions",
    "absence_sessions",
    "absence_pct",
    "consecutive_unexplained_days",
    "rolling_unauthorised_sessions",
    "stage",
    "stage_name",
    "stage_since",
    "stage_reason",
    "school_days_at_stage",
    "action_due",
    "attendance_pct_recent_weeks",
    "attendance_pct_previous_weeks",
]


def _pct(v: object) -> str:
    return "n/a" if v is None or pd.isna(v) else f"{float(v):.1f}%"


def explain(row: Mapping[str, Any]) -> str:
    """The reason for the row in plain words: which rule, which sessions."""
    t = thresholds()
    parts = []
    possible, absence = int(row["possible_sessions"]), int(row["absence_sessions"])
    if row["severely_absent"]:
        parts.append(
            f"Absent for {absence} of {possible} sessions this school year "
            f"({_pct(row['absence_pct'])}); {t['sa_threshold_pct']}% or more is severe absence."
        )
    if row["cme_referral_due"]:
        parts.append(
            f"Absent without an explanation for {int(row['consecutive_unexplained_days'])} school "
            f"days in a row; {t['cme_consecutive_days']} or more means a children missing "
            "education referral is due."
        )
    if row["persistent_absentee"] and not row["severely_absent"]:
        parts.append(
            f"Absent for {absence} of {possible} sessions this school year "
            f"({_pct(row['absence_pct'])}); {t['pa_threshold_pct']}% or more is persistent absence."
        )
    if row["penalty_threshold_met"]:
        parts.append(
            f"{int(row['rolling_unauthorised_sessions'])} sessions of unauthorised absence in the "
            f"last {t['rolling_school_weeks']} school weeks; "
            f"{t['penalty_unauthorised_sessions']} or more meets the national penalty notice "
            "threshold."
        )
    if row["on_stage"]:
        since = row["stage_since"]
        since_text = "" if pd.isna(since) else pd.Timestamp(since).date().isoformat()
        why = row.get("stage_reason") or ""
        parts.append(
            f"Stage {int(row['stage'])} ({row['stage_name']}) since {since_text}."
            + (f" {why}" if isinstance(why, str) and why else "")
        )
    return " ".join(parts)


def _trend(row: Mapping[str, Any]) -> str:
    recent, before = row["attendance_pct_recent_weeks"], row["attendance_pct_previous_weeks"]
    if pd.isna(recent) or pd.isna(before):
        return ""
    change = float(recent) - float(before)
    arrow = "up" if change > 0.05 else "down" if change < -0.05 else "steady"
    return f"{arrow} {change:+.1f}"


def action_now_due(row: Mapping[str, Any], policy: dict | None) -> str:
    """What the school does now, in the policy's words: the action each raised flag calls for
    (in priority order), then the action of the pupil's stage, marked new on the day it became
    due. Without a policy, the stage engine's action of the day."""
    if not policy:
        return str(row.get("action_due") or "")
    flags = policy.get("flags") or {}
    stages = {int(st["stage"]): st for st in policy.get("stages") or []}
    parts = [str(flags[flag]).strip() for flag, _ in REASONS[:-1] if row[flag] and flag in flags]
    stage = int(row["stage"])
    if stage in stages and stages[stage].get("action"):
        new = "NEW: " if int(row.get("school_days_at_stage") or 0) == 0 else ""
        parts.append(f"{new}Stage {stage}: {str(stages[stage]['action']).strip()}")
    return " | ".join(parts)


def _one_decimal(values: list) -> list[str]:
    """Percentages as the list shows them: one decimal, empty when missing."""
    return ["" if v is None or v != v else f"{float(v):.1f}" for v in values]


def priority_rows(status: pd.DataFrame, policy: dict | None = None) -> pd.DataFrame:
    """The rows for one school, ranked. `policy` (the academy's escalation policy) gives the
    words of the action now due.

    Built from plain arrays and lists rather than pandas operations on the school's frame:
    a school's list is a few hundred rows, so pandas' cost per call (a copy, a filter, a
    sort, a map per column) was most of the time spent on it, about 20 ms a school."""
    stage_all = status["stage"].fillna(0).astype(int).to_numpy()
    raised = [status[flag].astype(bool).to_numpy() for flag, _ in REASONS[:-1]]
    raised.append(stage_all >= 1)
    chosen = np.flatnonzero(np.logical_or.reduce(raised))
    if not len(chosen):
        return pd.DataFrame(columns=COLUMNS)
    # the most urgent reason raised (REASONS' order) is the row's priority level
    level = np.select(raised, range(1, len(REASONS) + 1), 0)
    sort_pct = status["attendance_pct"].astype("float64").fillna(101.0).to_numpy()
    upns = status["upn"].tolist()
    # priority, then attendance (missing last), then UPN
    order = sorted(chosen.tolist(), key=lambda i: (level[i], sort_pct[i], upns[i]))
    s = status.iloc[order]
    on_list_yesterday = (
        s["sa_yesterday"].to_numpy(bool)
        | s["cme_yesterday"].to_numpy(bool)
        | s["pa_yesterday"].to_numpy(bool)
        | s["penalty_yesterday"].to_numpy(bool)
        | (s["stage_yesterday"].fillna(0).to_numpy() >= 1)
    )
    raised_rows = [r[order] for r in raised]
    words = {c: s[c].tolist() for c in WORDS_FROM if c in s.columns and c != "stage"}
    words["on_stage"] = raised_rows[-1].tolist()
    words["stage"] = stage_all[order].tolist()
    # Row by row over plain records of the columns the words need, not iterrows/apply: the
    # same values (ints, floats, Timestamps, text) at a fraction of the cost.
    records = [dict(zip(words, row, strict=True)) for row in zip(*words.values(), strict=True)]
    out = pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1, dtype="int64"),
            "priority": level[order].astype("int64"),
            "reasons": [
                "; ".join(label for (_, label), up in zip(REASONS, ups, strict=True) if up)
                for ups in zip(*raised_rows, strict=True)
            ],
            "upn": s["upn"].to_numpy(),
            "name": (s["surname"] + ", " + s["forename"]).to_numpy(),
            "year": s["nc_year"].to_numpy(),
            "reg_group": s["reg_group"].to_numpy(),
            "attendance_pct_ytd": _one_decimal(s["attendance_pct"].tolist()),
            "absence_sessions": s["absence_sessions"].to_numpy().astype(int),
            "unauthorised_sessions": s["unauthorised_absence_sessions"].to_numpy().astype(int),
            "rolling_absence_sessions": s["rolling_absence_sessions"].to_numpy().astype(int),
            "rolling_unauthorised_sessions": s["rolling_unauthorised_sessions"]
            .to_numpy()
            .astype(int),
            "band": s["band"].fillna("").to_numpy(),
            "stage": stage_all[order],
            "stage_name": s["stage_name"].fillna("No action").to_numpy(),
            "action_now_due": [action_now_due(r, policy) for r in records],
            "school_days_at_stage": s["school_days_at_stage"].fillna(0).to_numpy().astype(int),
            "new_since_previous_school_day": np.where(on_list_yesterday, "N", "Y").tolist(),
            "attendance_pct_last_4_weeks": _one_decimal(s["attendance_pct_recent_weeks"].tolist()),
            "trend_4_weeks": [_trend(r) for r in records],
            "sessions_to_spare": s["sessions_to_spare"].to_numpy().astype(int),
            "fsm": s["fsm"].to_numpy(),
            "sen": s["sen"].to_numpy(),
            "explanation": [explain(r) for r in records],
        }
    )
    return out[COLUMNS]


def priority_path(urn: str, run_date: date) -> tuple[str, str]:
    d = run_date.isoformat()
    return f"schools/{urn}/{d}", f"priority_list_{urn}_{d}"
