"""Weekly attendance per academy and for the trust, and the pupils a school can praise.

Both are read from the marts as of D with read-only queries (exports never write the warehouse).
Rates are sessions over possible sessions summed over pupils, never an average of rates.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from attendance.calendar import SchoolCalendar, academic_year_start

# A break of this many weekdays or more without a register (a half-term or end-of-term
# holiday) starts a new half term; a bank holiday or an INSET day does not.
HALF_TERM_BREAK_WEEKDAYS = 3
# "Most improved" needs enough sessions on each side of the intervention to mean something.
MIN_SESSIONS_EACH_SIDE = 10
MOST_IMPROVED_LIMIT = 15

WEEKLY_SQL = """
with weeks as (
    select distinct urn, school_week_index, week_start
    from stg_calendar
    where school_week_index is not null and is_school_day
      and calendar_date between ? and ?
)
select w.urn, w.week_start,
       cast(sum(pw.attended_sessions) as bigint) as attended,
       cast(sum(pw.possible_sessions) as bigint) as possible
from int_pupil_week as pw
inner join weeks as w on w.urn = pw.urn and w.school_week_index = pw.school_week_index
group by w.urn, w.week_start
order by w.urn, w.week_start
"""

# The praise sheet's two lists are summed in DuckDB, per school and pupil: fetching the year's
# pupil-days into pandas (8 million rows at 50 academies) and filtering them per school took
# most of a minute. `?` in order: the per-academy half-term starts (URNs, dates), year start, D.
FULL_SQL = """
with since as (select unnest(?::varchar[]) as urn, unnest(?::date[]) as since)
select d.urn, d.upn,
       cast(sum(d.possible_sessions) as bigint) as possible_sessions,
       cast(sum(d.attended_sessions) as bigint) as attended_sessions
from fct_pupil_day as d
inner join since as s on s.urn = d.urn
where d.mark_date between ? and ? and d.mark_date >= s.since and d.upn is not null
group by d.urn, d.upn
having sum(d.possible_sessions) > 0 and sum(d.attended_sessions) = sum(d.possible_sessions)
order by d.urn, d.upn
"""

# Sessions before and since each pupil's first entry into a stage this year (year start, D,
# year start, D), from int_pupil_daily's year-to-date sums: before the entry, the sums on the
# entry day less that day's own sessions; since, the sums on the academy's last school day by
# D less those. Two rows a pupil instead of summing the year's pupil-days per pupil and side
# (M, 2 July: 0.5-0.65 s of every export's reads, growing through the year). The sums count
# school days, as every year-to-date measure does.
IMPROVED_SQL = """
with entries as (
    select urn, upn, min(event_date) as entry_date
    from fct_stage_events
    where event_date between ? and ? and event_kind = 'entry' and upn is not null
    group by urn, upn
),
last_days as (
    select urn, max(calendar_date) as last_day
    from stg_calendar
    where is_school_day and calendar_date between ? and ?
    group by urn
),
before as (
    select d.urn, d.upn,
           d.possible_ytd - d.possible_sessions as possible_sessions,
           d.attended_ytd - d.attended_sessions as attended_sessions
    from int_pupil_daily as d
    inner join entries as e
        on e.urn = d.urn and e.upn = d.upn and e.entry_date = d.calendar_date
),
to_date as (
    select d.urn, d.upn, d.possible_ytd, d.attended_ytd
    from int_pupil_daily as d
    inner join last_days on last_days.urn = d.urn and last_days.last_day = d.calendar_date
    semi join entries as e on e.urn = d.urn and e.upn = d.upn
)
select urn, upn, false as since,
       cast(possible_sessions as bigint) as possible_sessions,
       cast(attended_sessions as bigint) as attended_sessions
from before
union all
select b.urn, b.upn, true as since,
       cast(t.possible_ytd - b.possible_sessions as bigint) as possible_sessions,
       cast(t.attended_ytd - b.attended_sessions as bigint) as attended_sessions
from before as b
inner join to_date as t on t.urn = b.urn and t.upn = b.upn
order by urn, upn, since
"""

STAGE_HISTORY_SQL = """
-- each pupil's stage history this year as most_improved reads it, summed in DuckDB rather
-- than fetching every event of the trust: the first entry into a stage, the last exit, and the
-- kind of the latest event (a pupil has at most one event a day: the model's key)
select urn, upn,
       min(event_date) filter (where event_kind = 'entry') as first_entry,
       max(event_date) filter (where event_kind = 'exit') as last_exit,
       arg_max(event_kind, event_date) as last_kind
from fct_stage_events
where event_date between ? and ? and upn is not null
group by urn, upn
order by urn, upn
"""


def weekly_queries(run_date: date, since: dict[str, date]) -> dict[str, tuple[str, list]]:
    """The trend queries; `since` is each exported academy's half-term start (URN -> date)."""
    start = academic_year_start(run_date)
    urns = sorted(since)
    return {
        "weekly": (WEEKLY_SQL, [start, run_date]),
        "full": (FULL_SQL, [urns, [since[u] for u in urns], start, run_date]),
        "improved_days": (IMPROVED_SQL, [start, run_date, start, run_date]),
        "stage_history": (STAGE_HISTORY_SQL, [start, run_date]),
    }


def weekly_attendance(weekly: pd.DataFrame) -> pd.DataFrame:
    """One row per week: `week_start`, one column per academy URN and `trust`, in percent."""
    if weekly.empty:
        return pd.DataFrame(columns=["week_start", "trust"])
    w = weekly.copy()
    w["week_start"] = pd.to_datetime(w["week_start"]).dt.date
    per = w.pivot_table(
        index="week_start", columns="urn", values=["attended", "possible"], aggfunc="sum"
    )
    out = pd.DataFrame(index=per.index)
    for urn in sorted(w["urn"].unique()):
        possible = per["possible"][urn]
        out[urn] = (per["attended"][urn] * 100.0 / possible.where(possible > 0)).round(1)
    totals = w.groupby("week_start")[["attended", "possible"]].sum()
    out["trust"] = (
        totals["attended"] * 100.0 / totals["possible"].where(totals["possible"] > 0)
    ).round(1)
    return out.reset_index().sort_values("week_start").reset_index(drop=True)


def half_term_start(calendar: SchoolCalendar, run_date: date) -> date:
    """The first school day of the half term holding D: walking back over weekdays, the day
    after the latest run of HALF_TERM_BREAK_WEEKDAYS or more weekdays without a register."""
    first = academic_year_start(run_date)
    d, gap, latest_register = run_date, 0, run_date
    while d >= first:
        if d.weekday() < 5:
            if calendar.is_register_day(d):
                if gap >= HALF_TERM_BREAK_WEEKDAYS:
                    break
                gap, latest_register = 0, d
            else:
                gap += 1
        d -= timedelta(days=1)
    school = [s for s in calendar.school_days if latest_register <= s <= run_date]
    return school[0] if school else latest_register


def full_attendance(full: pd.DataFrame, urn: str) -> pd.DataFrame:
    """Pupils of one academy who attended every possible session from its half-term start to D
    (summed by FULL_SQL): `upn`, `possible_sessions`, `attended_sessions`."""
    mine = full[full["urn"] == urn]
    return mine[["upn", "possible_sessions", "attended_sessions"]].reset_index(drop=True)


def most_improved(sums: pd.DataFrame, history: pd.DataFrame, urn: str) -> pd.DataFrame:
    """Pupils whose attendance since their first intervention this year (the first entry into
    a stage) is better than before it; those back at stage 0 carry the date they left. `sums`
    holds each pupil's sessions before and since that entry (IMPROVED_SQL), `history` each
    pupil's first entry, last exit and latest event's kind (STAGE_HISTORY_SQL)."""
    cols = ["upn", "intervention_date", "before_pct", "since_pct", "change", "back_to_stage_0"]
    mine = history[(history["urn"] == urn) & history["first_entry"].notna()]
    if mine.empty:
        return pd.DataFrame(columns=cols)
    # Looked up per pupil below: plain dicts (a Series lookup per pupil was most of the time)
    upns = mine["upn"].tolist()
    entries = dict(zip(upns, pd.to_datetime(mine["first_entry"]).dt.date.tolist(), strict=True))
    exits = dict(zip(upns, pd.to_datetime(mine["last_exit"]).dt.date.tolist(), strict=True))
    last_kind = dict(zip(upns, mine["last_kind"].tolist(), strict=True))
    known = set(upns)  # a set lookup per row: pandas' isin on text took 4 ms a school
    has_entry = np.fromiter((u in known for u in sums["upn"].tolist()), bool, len(sums))
    d = sums[(sums["urn"] == urn).to_numpy(bool) & has_entry]
    if d.empty:
        return pd.DataFrame(columns=cols)
    columns = ["possible_sessions", "attended_sessions"]
    per = d.astype({"since": bool}).set_index(["upn", "since"])[columns].unstack()
    # Whole session counts as float64 (exact), a pupil without sessions on one side NaN.
    sides = [
        per[(column, side)].to_numpy(dtype="float64")
        for column in columns
        for side in (False, True)
    ]
    rows = []
    for upn, pb, ps, ab, as_ in zip(per.index, *sides, strict=True):
        if pb != pb or ps != ps or min(pb, ps) < MIN_SESSIONS_EACH_SIDE:  # NaN: no sessions
            continue
        before = ab * 100.0 / pb
        since = as_ * 100.0 / ps
        if since <= before:
            continue
        back = last_kind.get(upn) == "exit"
        rows.append(
            {
                "upn": upn,
                "intervention_date": entries[upn],
                "before_pct": round(before, 1),
                "since_pct": round(since, 1),
                "change": round(since - before, 1),
                "back_to_stage_0": exits[upn] if back else None,
            }
        )
    out = pd.DataFrame(rows, columns=cols)
    out = out.sort_values(["change", "upn"], ascending=[False, True], kind="stable")
    return out.head(MOST_IMPROVED_LIMIT).reset_index(drop=True)
