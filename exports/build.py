"""Everything published for a run date, produced together and published atomically (SPEC 7).

An academy can be held back for the day (`held_back`: URN -> reason, decided by the quality
gate and by missing deliveries): it gets no DfE file, its pupils are left out of its LA's file,
no priority list is published for it, and the trust summary, the trust report and the
data-quality report say that it was held back and why.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd

from attendance.calendar import load_calendars
from attendance.config import load_policy, load_trust
from attendance.home import Home
from exports.csvout import csv_bytes
from exports.deliver import deliver
from exports.priority import priority_path, priority_rows
from exports.publish import Publication
from exports.quality import quality_rows
from exports.report import trust_report
from exports.shares import dfe_path, dfe_share, la_path, la_share
from exports.trends import (
    full_attendance,
    half_term_start,
    most_improved,
    weekly_attendance,
    weekly_queries,
)
from exports.warehouse import read_many
from exports.xlsx import priority_workbook

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
    "held_back_reason",
]
PRAISE_FIELDS = ["upn", "name", "year", "reg_group"]


def _pct(num: int, den: int) -> float | None:
    return None if not den else round(num * 100.0 / den, 1)


def trust_totals(status: pd.DataFrame) -> dict:
    counted = int((status["possible_sessions"] > 0).sum())
    pa = int(status["persistent_absentee"].astype(bool).sum())
    sa = int(status["severely_absent"].astype(bool).sum())
    return {
        "pupils": len(status),
        "attendance_pct": _pct(
            int(status["attended_sessions"].sum()), int(status["possible_sessions"].sum())
        ),
        "attendance_pct_on_d": _pct(
            int(status["attended_sessions_on_d"].sum()),
            int(status["possible_sessions_on_d"].sum()),
        ),
        "pa_count": pa,
        "pa_pct": _pct(pa, counted),
        "sa_count": sa,
        "sa_pct": _pct(sa, counted),
    }


def _year_order(year: object) -> int:
    """NC years in school order: N1, N2, R, then 1 to 14."""
    text = str(year)
    early = {"N1": -2, "N2": -1, "R": 0}
    return early.get(text, int(text) if text.isdigit() else 99)


def _with_names(frame: pd.DataFrame, school: pd.DataFrame) -> pd.DataFrame:
    people = school[["upn", "surname", "forename", "nc_year", "reg_group"]].copy()
    people["name"] = people["surname"] + ", " + people["forename"]
    people = people.rename(columns={"nc_year": "year"})
    return frame.merge(people[PRAISE_FIELDS], on="upn", how="inner")


def _facts(school: pd.DataFrame, plist: pd.DataFrame, summary_row: dict) -> list:
    flag = lambda col: int(school[col].astype(bool).sum())  # noqa: E731
    return [
        ("Pupils on roll", int(summary_row.get("pupils_on_roll", len(school)))),
        ("Attendance % year to date", summary_row.get("attendance_pct_ytd")),
        ("Attendance % on the day", summary_row.get("attendance_pct_on_d")),
        ("Pupils on the priority list", len(plist)),
        ("New on the list today", int((plist["new_since_previous_school_day"] == "Y").sum())),
        ("Severely absent (SA)", flag("severely_absent")),
        ("Children missing education referral due", flag("cme_referral_due")),
        ("Persistently absent (PA)", flag("persistent_absentee")),
        ("At the penalty notice threshold", flag("penalty_threshold_met")),
        ("At an attendance stage", int((school["stage"].fillna(0) >= 1).sum())),
    ]


class MartsBuiltForAnotherDate(RuntimeError):
    """The marts in the warehouse hold another run date's figures (another run rebuilt them,
    e.g. overlapping backfill runs): publishing them under this date would be wrong."""


def check_built_for(run_date: date, *marts: pd.DataFrame) -> None:
    for mart in marts:
        if mart.empty or "as_of_date" not in mart:
            continue
        built = {pd.Timestamp(v).date() for v in mart["as_of_date"].unique()}
        if built != {run_date}:
            found = ", ".join(sorted(str(b) for b in built))
            raise MartsBuiltForAnotherDate(
                f"the marts hold figures as of {found}, not {run_date}: another run rebuilt the "
                "warehouse in between; re-run this date (backfills: --max-active-runs 1)"
            )


def export_all(home: Home, run_date: date, held_back: dict[str, str] | None = None) -> dict:
    held_back = dict(held_back or {})
    trust = load_trust(home)
    calendars = load_calendars(home, trust)
    d = run_date.isoformat()
    data = read_many(
        home,
        {
            "status": ("select * from mart_pupil_status order by urn, upn", []),
            "dfe": ("select * from mart_dfe_share", []),
            "summary": ("select * from mart_academy_summary order by urn", []),
            **weekly_queries(run_date),
        },
    )
    status, dfe, summary = data["status"], data["dfe"], data["summary"]
    check_built_for(run_date, status, dfe)
    weekly = weekly_attendance(data["weekly"])
    quality = quality_rows(home, trust, run_date, calendars, held_back)
    for urn, reason in sorted(held_back.items()):
        log.warning("academy %s held back for %s: %s", urn, d, reason)

    summary = summary.merge(
        quality[["urn", "data_quality_status", "held_back_reason"]], on="urn", how="left"
    )
    summary["data_quality_status"] = summary["data_quality_status"].fillna("no data")
    summary["held_back_reason"] = summary["held_back_reason"].fillna("")
    summary_by_urn = {r["urn"]: r for r in summary.to_dict("records")}

    pub = Publication(home.exports, run_date)
    counts: dict[str, int] = {"dfe_files": 0, "la_files": 0, "priority_lists": 0}
    try:
        for academy in trust.academies:
            if academy.urn in held_back:
                pub.withdraw(priority_path(academy.urn, run_date)[0])
                continue
            folder, name = dfe_path(academy.laestab, run_date)
            rows = dfe_share(dfe[dfe["urn"] == academy.urn])
            pub.add(folder, name, csv_bytes(rows), len(rows))
            counts["dfe_files"] += 1

            school = status[status["urn"] == academy.urn]
            folder, stem = priority_path(academy.urn, run_date)
            plist = priority_rows(school, load_policy(home, academy.policy))
            pub.add(folder, f"{stem}.csv", csv_bytes(plist), len(plist))
            since = half_term_start(calendars[academy.urn], run_date)
            full = full_attendance(data["days"], academy.urn, since, run_date)
            improved = most_improved(data["days"], data["events"], academy.urn)
            full = _with_names(full, school)
            full["year_order"] = full["year"].map(_year_order)
            full = full.sort_values(["year_order", "reg_group", "name", "upn"], kind="stable")
            improved = _with_names(improved, school)
            book = priority_workbook(
                school_name=academy.name,
                trust_name=trust.name,
                urn=academy.urn,
                run_date=run_date,
                plist=plist,
                facts=_facts(school, plist, summary_by_urn.get(academy.urn, {})),
                weekly=weekly,
                praise_full=full,
                praise_improved=improved,
                half_term_from=since,
            )
            pub.add(folder, f"{stem}.xlsx", book, len(plist))
            counts["priority_lists"] += 1

        if not counts["dfe_files"]:
            pub.withdraw(dfe_path("0000000", run_date)[0])  # every academy held back
        published_urns = [a.urn for a in trust.academies if a.urn not in held_back]
        for la_code in sorted({a.la_code for a in trust.academies}):
            in_la = [a.urn for a in trust.academies if a.la_code == la_code]
            if not set(in_la) & set(published_urns):
                # every academy of this LA held back: no file rather than an empty one
                pub.withdraw(la_path(la_code, run_date)[0])
                continue
            folder, name = la_path(la_code, run_date)
            keep = (status["la_code"] == la_code) & status["urn"].isin(published_urns)
            rows = la_share(status[keep])
            pub.add(folder, name, csv_bytes(rows), len(rows))
            counts["la_files"] += 1

        trust_folder = f"trust/{d}"
        pub.add(
            trust_folder,
            f"trust_summary_{d}.csv",
            csv_bytes(summary[SUMMARY_COLUMNS]),
            len(summary),
        )
        pub.add(trust_folder, f"data_quality_{d}.csv", csv_bytes(quality), len(quality))
        report = trust_report(
            trust_name=trust.name,
            run_date=run_date,
            summary=summary,
            quality=quality,
            weekly=weekly,
            trust_totals=trust_totals(status),
        )
        pub.add(trust_folder, f"trust_report_{d}.html", report, None)
        published = pub.commit()
    except Exception:
        pub.abort()
        raise
    deliveries = deliver(home, run_date, published)
    return {
        "run_date": d,
        "folders": [str(p) for p in published],
        "summary": summary[SUMMARY_COLUMNS].to_dict(orient="records"),
        "held_back": held_back,
        "deliveries": deliveries,
        **counts,
    }


def empty_frame(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
