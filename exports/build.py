"""Everything published for a run date, produced together and published atomically (SPEC 7).

An academy can be held back for the day (`held_back`: URN -> reason, decided by the quality
gate and by missing deliveries): it gets no DfE file, its pupils are left out of its LA's file,
no priority list is published for it, and the trust summary, the trust report and the
data-quality report say that it was held back and why.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import pandas as pd

from attendance.calendar import load_calendars
from attendance.config import Trust, load_policy, load_trust
from attendance.home import Home
from attendance.processes import tune_gc_for_batch_work, worker_pool
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
# Below this many schools to export, a process pool's start-up (about a second) is not repaid.
POOL_MIN_SCHOOLS = 8


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


def _quality_facts(quality_row: dict) -> tuple[list, str | None]:
    """The summary sheet's data-quality lines, and a notice when the school's figures are
    short of records. A rejected mark is not a possible session (SPEC 5), so a week of
    rejected present marks beside counted absences makes pupils look more absent than they
    were (the benchmark's messy trust: up to 13 more persistent absentees in an academy),
    and the attendance lead reading the list each morning should know before acting on it."""
    marks = int(quality_row.get("records_rejected") or 0)
    files = int(quality_row.get("deliveries_rejected") or 0)
    facts = [
        ("Register marks rejected to date", marks),
        ("Register files rejected whole to date", files),
    ]
    if not marks and not files:
        return facts, None
    notice = (
        "Some of this school's register data was rejected and is not counted here: a rejected "
        "present mark can make a pupil look more absent than they were. The trust's "
        "data-quality report lists each rejection and its reason; once the MIS sends "
        "corrected marks, these figures follow."
    )
    return facts, notice


@dataclass
class SchoolJob:
    """What one academy's files are made from: plain frames and values, so the work can run
    in another process."""

    urn: str
    laestab: str
    school_name: str
    trust_name: str
    run_date: date
    policy: dict
    dfe: pd.DataFrame
    school: pd.DataFrame
    summary_row: dict
    quality_row: dict
    weekly: pd.DataFrame
    full: pd.DataFrame
    improved_sums: pd.DataFrame
    stage_history: pd.DataFrame
    since: date


def school_files(job: SchoolJob) -> list[tuple[str, str, bytes, int]]:
    """One academy's DfE share, priority list CSV and priority workbook, as (folder, name,
    bytes, rows) in the order they are published."""
    out = []
    folder, name = dfe_path(job.laestab, job.run_date)
    rows = dfe_share(job.dfe)
    out.append((folder, name, csv_bytes(rows), len(rows)))
    folder, stem = priority_path(job.urn, job.run_date)
    plist = priority_rows(job.school, job.policy)
    out.append((folder, f"{stem}.csv", csv_bytes(plist), len(plist)))
    improved = most_improved(job.improved_sums, job.stage_history, job.urn)
    full = _with_names(job.full, job.school)
    full["year_order"] = full["year"].map(_year_order)
    full = full.sort_values(["year_order", "reg_group", "name", "upn"], kind="stable")
    quality, notice = _quality_facts(job.quality_row)
    book = priority_workbook(
        school_name=job.school_name,
        trust_name=job.trust_name,
        urn=job.urn,
        run_date=job.run_date,
        plist=plist,
        facts=_facts(job.school, plist, job.summary_row) + quality,
        notice=notice,
        weekly=job.weekly,
        praise_full=full,
        praise_improved=_with_names(improved, job.school),
        half_term_from=job.since,
    )
    out.append((folder, f"{stem}.xlsx", book, len(plist)))
    return out


def _by_urn(frame: pd.DataFrame) -> Callable[[str], pd.DataFrame]:
    """URN -> that academy's rows of `frame` (as `frame[frame["urn"] == urn]` gives them: same
    order, same index), split once instead of filtering the trust's rows per academy."""
    groups = dict(tuple(frame.groupby("urn", sort=False))) if len(frame) else {}
    empty = frame.iloc[0:0]
    return lambda urn: groups.get(urn, empty)


def export_workers(jobs: int) -> int:
    """How many processes make the schools' files: $ATTENDANCE_EXPORT_WORKERS, else one per
    CPU; one (in this process) for a trust too small to repay starting a pool."""
    wanted = os.environ.get("ATTENDANCE_EXPORT_WORKERS")
    if wanted:
        return max(1, min(int(wanted), jobs))
    if jobs < POOL_MIN_SCHOOLS:
        return 1
    return max(1, min(os.cpu_count() or 1, jobs))


@contextmanager
def school_pool(schools: int) -> Iterator[ProcessPoolExecutor | None]:
    """The processes that make the schools' files (`export_workers`; None: made in this
    process), started at once so they start up while this process reads the marts."""
    workers = export_workers(schools)
    if workers == 1:
        yield None
        return
    with worker_pool(
        workers, preload=["exports.build"], initializer=tune_gc_for_batch_work
    ) as pool:
        for _ in range(workers):
            pool.submit(_started)  # one process per submission while none is idle
        yield pool


def _started() -> None:
    """A no-op run in each new worker: unpickling it imports this module there."""


def school_files_all(
    jobs: list[SchoolJob], pool: ProcessPoolExecutor | None = None
) -> Iterator[list[tuple[str, str, bytes, int]]]:
    """`school_files` for every job, in the jobs' order; in `pool` when given (the jobs are
    all submitted now, so the caller can do other work while they run): the spreadsheets
    are pure Python (openpyxl) and take most of the export at trust scale. The bytes do not
    depend on where they were made."""
    if pool is None:
        return map(school_files, jobs)
    return pool.map(school_files, jobs)


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


@dataclass
class ExportSession:
    """An export begun before the gate's verdicts are known: the trust, the processes that
    make the schools' files (started), and the marts' rows for every academy (read). The
    daily run opens it while the export gate runs in its gatekeeper process
    (attendance/pipeline.py), so neither waits for the other; the verdicts decide later what
    is published."""

    trust: Trust
    pool: ProcessPoolExecutor | None
    calendars: dict
    since: dict[str, date]  # URN -> the first school day of D's half term
    data: dict[str, pd.DataFrame]


@contextmanager
def export_session(
    home: Home, run_date: date, schools: int | None = None
) -> Iterator[ExportSession]:
    """Start the schools' processes (for `schools` academies; default every one), then read
    the marts for D while they start up."""
    trust = load_trust(home)
    with school_pool(len(trust.academies) if schools is None else schools) as pool:
        calendars = load_calendars(home, trust)
        since = {a.urn: half_term_start(calendars[a.urn], run_date) for a in trust.academies}
        data = read_many(
            home,
            {
                "status": ("select * from mart_pupil_status order by urn, upn", []),
                "dfe": ("select * from mart_dfe_share", []),
                "summary": ("select * from mart_academy_summary order by urn", []),
                **weekly_queries(run_date, since),
            },
        )
        check_built_for(run_date, data["status"], data["dfe"])
        yield ExportSession(trust, pool, calendars, since, data)


def export_all(
    home: Home,
    run_date: date,
    held_back: dict[str, str] | None = None,
    quality_facts: pd.DataFrame | None = None,
    session: ExportSession | None = None,
) -> dict:
    """Every output for D. `quality_facts`, when given, is `exports.quality.quality_facts` for
    D computed earlier (the daily run computes it beside the dbt build); `session`, when given,
    the export begun already (`export_session`)."""
    held_back = dict(held_back or {})
    if session is not None:
        return _export_all(home, session, run_date, held_back, quality_facts)
    trust = load_trust(home)
    schools = sum(1 for a in trust.academies if a.urn not in held_back)
    with export_session(home, run_date, schools) as begun:
        return _export_all(home, begun, run_date, held_back, quality_facts)


def _export_all(
    home: Home,
    session: ExportSession,
    run_date: date,
    held_back: dict[str, str],
    quality_facts: pd.DataFrame | None,
) -> dict:
    trust, pool, data = session.trust, session.pool, session.data
    d = run_date.isoformat()
    status, dfe, summary = data["status"], data["dfe"], data["summary"]
    weekly = weekly_attendance(data["weekly"])
    quality = quality_rows(home, trust, run_date, session.calendars, held_back, quality_facts)
    for urn, reason in sorted(held_back.items()):
        log.warning("academy %s held back for %s: %s", urn, d, reason)

    summary = summary.merge(
        quality[["urn", "data_quality_status", "held_back_reason"]], on="urn", how="left"
    )
    summary["data_quality_status"] = summary["data_quality_status"].fillna("no data")
    summary["held_back_reason"] = summary["held_back_reason"].fillna("")
    summary_by_urn = {r["urn"]: r for r in summary.to_dict("records")}
    quality_by_urn = {r["urn"]: r for r in quality.to_dict("records")}

    pub = Publication(home.exports, run_date)
    counts: dict[str, int] = {"dfe_files": 0, "la_files": 0, "priority_lists": 0}
    jobs: list[SchoolJob] = []
    policies = {key: load_policy(home, key) for key in sorted({a.policy for a in trust.academies})}
    dfe_of, status_of, sums_of, history_of = (
        _by_urn(frame) for frame in (dfe, status, data["improved_days"], data["stage_history"])
    )
    try:
        for academy in trust.academies:
            if academy.urn in held_back:
                pub.withdraw(priority_path(academy.urn, run_date)[0])
                continue
            jobs.append(
                SchoolJob(
                    urn=academy.urn,
                    laestab=academy.laestab,
                    school_name=academy.name,
                    trust_name=trust.name,
                    run_date=run_date,
                    policy=policies[academy.policy],
                    dfe=dfe_of(academy.urn),
                    school=status_of(academy.urn),
                    summary_row=summary_by_urn.get(academy.urn, {}),
                    quality_row=quality_by_urn.get(academy.urn, {}),
                    weekly=weekly,
                    full=full_attendance(data["full"], academy.urn),
                    improved_sums=sums_of(academy.urn),
                    stage_history=history_of(academy.urn),
                    since=session.since[academy.urn],
                )
            )
        made = school_files_all(jobs, pool)
        # The LA and trust files are made here while the pool makes the schools'.
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

        for files in made:
            for folder, name, body, rows in files:
                pub.add(folder, name, body, rows)
            counts["dfe_files"] += 1
            counts["priority_lists"] += 1
        if not counts["dfe_files"]:
            pub.withdraw(dfe_path("0000000", run_date)[0])  # every academy held back
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
