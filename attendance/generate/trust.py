"""`generate_trust`: write a whole synthetic trust into a home folder (SPEC 9, `attendance
generate`).

Academies are generated one after another, each from its own seeded random stream, and their
files are streamed out day by day: memory stays bounded by one academy, and the same arguments
always give byte-identical files (nothing reads the clock except the default `end`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

from attendance.calendar import SchoolCalendar, academic_year_start
from attendance.config import load_calendar
from attendance.generate.behaviour import (
    AcademySimulation,
    check_codes_against_seed,
    pick_unplanned_closure,
)
from attendance.generate.calendars import write_calendar, years_touched
from attendance.generate.pupils import Roll, build_roll
from attendance.generate.registry import AcademyPlan, copy_policies, plan_trust, write_trust
from attendance.generate.truth import TruthWriter
from attendance.generate.writers import WRITERS, Truth, extraction_time, write_roll
from attendance.home import Home

ROLL_TIME = timedelta(hours=7)  # roll snapshots are taken at 07:00 on the day they change


def latest_weekday_before(today: date) -> date:
    d = today - timedelta(days=1)
    while d.weekday() >= 5:
        d -= timedelta(days=1)
    return d


def _snapshot_days(roll: Roll, days: list[date]) -> list[date]:
    """Days a fresh roll file is due: the first day, each new academic year, and every day a
    pupil joins or leaves."""
    wanted = {days[0].toordinal()}
    wanted |= {
        d.toordinal()
        for d, prev in zip(days[1:], days, strict=False)
        if academic_year_start(d) != academic_year_start(prev)
    }
    changes = set(roll.entry.tolist()) | set(roll.leave.tolist())
    wanted |= {d.toordinal() for d in days if d.toordinal() in changes}
    return sorted(date.fromordinal(o) for o in wanted)


def _generate_academy(
    plan: AcademyPlan,
    cal: SchoolCalendar,
    start: date,
    end: date,
    seed: int,
    landing: Path,
    unplanned_closure: bool,
    keep_truth: bool,
) -> tuple[Roll, list[date], int, int, list[Truth]]:
    """Write one academy's rolls and deliveries; return (roll, days, files, marks, truth)."""
    rng = np.random.default_rng([seed, 1000 + plan.index])
    days = [d for d in cal.register_days if start <= d <= end]
    years = sorted({academic_year_start(d).year for d in days}) or [academic_year_start(start).year]
    roll = build_roll(rng, plan, cal, years)
    folder = landing / plan.urn
    folder.mkdir(parents=True, exist_ok=True)
    if not days:
        write_roll(folder, roll, start, _at(start, ROLL_TIME))
        return roll, days, 1, 0, []
    school = [d for d in days if cal.is_school_day(d)]
    unplanned = pick_unplanned_closure(rng, school) if unplanned_closure else None
    sim = AcademySimulation(rng, plan, roll, days, set(cal.closures), unplanned)
    writer = WRITERS[plan.source_format](plan, roll, folder)
    snapshots = set(_snapshot_days(roll, days))
    files = marks = 0
    truth: list[Truth] = []
    for k, d in enumerate(days):
        if d in snapshots:
            write_roll(folder, roll, d, _at(d, ROLL_TIME))
            files += 1
        dm = sim.step(k)
        paths, chunks = writer.write(dm, extraction_time(d, plan))
        files += len(paths)
        marks += sum(len(c.pupil) for c in chunks)
        if keep_truth:
            truth += chunks
    return roll, days, files, marks, truth


def _at(d: date, offset: timedelta) -> datetime:
    return datetime(d.year, d.month, d.day) + offset


def generate_trust(
    home: Path,
    academies: int = 4,
    pupils: int = 1500,
    start: date | None = None,
    end: date | None = None,
    seed: int = 42,
    truth_path: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Write configuration, roll snapshots and register deliveries of a synthetic trust.

    `end` defaults to the latest weekday before today and `start` to 1 September of the
    academic year holding `end`. Returns counts: academies, pupils, files, marks (every mark in
    every delivery, re-deliveries and amendments included), register_days, and the range.
    """
    if end is None:
        end = latest_weekday_before(date.today())
    if start is None:
        start = academic_year_start(end)
    if start > end:
        raise ValueError(f"start {start} is after end {end}")
    problems = check_codes_against_seed()
    if problems:
        raise RuntimeError("generator emits codes the code-set seed lacks: " + "; ".join(problems))
    root = Path(home)
    h = Home(root)
    plans = plan_trust(academies, pupils, seed)
    years = years_touched(start, end)
    write_calendar(h.config / "calendars" / "default.yml", years)
    for plan in plans:
        if plan.calendar != "default":
            write_calendar(
                h.config / "calendars" / f"{plan.calendar}.yml", years, inset_variant=True
            )
    write_trust(h.config, plans)
    copy_policies(h.config)
    calendars = {
        name: SchoolCalendar(load_calendar(h, name)) for name in sorted({p.calendar for p in plans})
    }
    truth = TruthWriter(Path(truth_path)) if truth_path is not None else None
    closure_academy = 1 % len(plans)
    summary = {
        "academies": len(plans),
        "pupils": 0,
        "files": 0,
        "marks": 0,
        "register_days": 0,
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    seen_upns: set[str] = set()
    try:
        for plan in plans:
            roll, days, files, marks, chunks = _generate_academy(
                plan,
                calendars[plan.calendar],
                start,
                end,
                seed,
                h.landing,
                plan.index == closure_academy,
                truth is not None,
            )
            if truth is not None:
                truth.add(plan.urn, roll, chunks)
            written = roll.entry <= (days[-1] if days else start).toordinal()
            upns = set(roll.upn[written].tolist())
            if upns & seen_upns:
                raise RuntimeError(f"duplicate UPNs generated at {plan.urn}")
            seen_upns |= upns
            summary["pupils"] += len(upns)
            summary["files"] += files
            summary["marks"] += marks
            summary["register_days"] += len(days)
            if progress is not None:
                progress(
                    f"academy {plan.index + 1}/{len(plans)} {plan.urn}: {len(days)} days, "
                    f"{len(upns)} pupils, {files} files"
                )
    finally:
        if truth is not None:
            truth.close()
    return summary
