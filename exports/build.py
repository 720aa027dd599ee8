"""Everything published for a run date, produced together and published atomically (SPEC 7)."""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from attendance.config import load_trust
from attendance.home import Home
from exports.csvout import csv_bytes
from exports.priority import priority_path, priority_rows
from exports.publish import Publication
from exports.quality import quality_rows
from exports.shares import dfe_path, dfe_share, la_path, la_share
from exports.warehouse import read_mart

log = logging.getLogger(__name__)

SUMMARY_COLUMNS = [
    "urn",
    "laestab",
    "academy_name",
    "phase",
    "la_code",
    "pupils_on_roll",
    "attendance_pct_ytd",
    "attendance_pct_on_d",
    "pa_count",
    "pa_pct",
    "sa_count",
    "sa_pct",
    "stage_0",
    "stage_1",
    "stage_2",
    "stage_3",
    "stage_4",
    "stage_5_plus",
    "data_quality_status",
]


def export_all(home: Home, run_date: date, held_back: dict[str, str] | None = None) -> dict:
    # held_back: URN -> reason, from the quality gate (attendance.gate). Those academies get no
    # DfE file and no priority list, and their pupils are left out of the LA files.
    held_back = held_back or {}
    trust = load_trust(home)
    d = run_date.isoformat()
    status = read_mart(home, "select * from mart_pupil_status order by urn, upn")
    dfe = read_mart(home, "select * from mart_dfe_share")
    summary = read_mart(home, "select * from mart_academy_summary order by urn")
    quality = quality_rows(home, trust, run_date)

    pub = Publication(home.exports, run_date)
    counts: dict[str, int] = {"dfe_files": 0, "la_files": 0, "priority_lists": 0}
    try:
        for academy in trust.academies:
            if academy.urn in held_back:  # the gate held it back
                continue
            folder, name = dfe_path(academy.laestab, run_date)
            rows = dfe_share(dfe[dfe["urn"] == academy.urn])
            pub.add(folder, name, csv_bytes(rows), len(rows))
            counts["dfe_files"] += 1

            school = status[status["urn"] == academy.urn]
            folder, stem = priority_path(academy.urn, run_date)
            plist = priority_rows(school)
            pub.add(folder, f"{stem}.csv", csv_bytes(plist), len(plist))
            counts["priority_lists"] += 1

        # LA files: only academies not held back (an LA whose academies are all held back gets
        # no file for D rather than an empty one that would read as "nobody on roll")
        delivering = status[~status["urn"].isin(held_back)]
        for la_code in sorted({a.la_code for a in trust.academies if a.urn not in held_back}):
            folder, name = la_path(la_code, run_date)
            rows = la_share(delivering[delivering["la_code"] == la_code])
            pub.add(folder, name, csv_bytes(rows), len(rows))
            counts["la_files"] += 1

        summary = summary.merge(quality[["urn", "data_quality_status"]], on="urn", how="left")
        summary["data_quality_status"] = summary["data_quality_status"].fillna("no data")
        pub.add(
            f"trust/{d}",
            f"trust_summary_{d}.csv",
            csv_bytes(summary[SUMMARY_COLUMNS]),
            len(summary),
        )
        pub.add(f"trust/{d}", f"data_quality_{d}.csv", csv_bytes(quality), len(quality))
        published = pub.commit()
    except Exception:
        pub.abort()
        raise
    return {
        "run_date": d,
        "folders": [str(p) for p in published],
        "summary": summary[SUMMARY_COLUMNS].to_dict(orient="records"),
        "held_back": dict(held_back),
        **counts,
    }


def empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
