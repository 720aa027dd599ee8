"""The stage of every pupil on every school day of the year to D (SPEC 6).

A stage depends on the path a pupil took (time at a stage, improvement since entering it), so
it is computed by walking the school days in order with the policy engine in
`attendance.stages` under each academy's policy, the academies sharing a policy and a
calendar in one call (`_same_days`).

Incremental (issue #4: one new day must not recompute the year). `int_build_plan` says whether
this run is 'full' or 'incremental'; in incremental mode `int_pupil_changes` lists the pupils
whose `int_pupil_daily` rows changed from a date `changed_from` on, and this table still holds
the rows built for the previous run date. For those pupils only, the engine resumes from the
state kept in this table on the pupil's last day before `changed_from` (stage, stage_since,
school_days_at_stage, and the measures of `int_pupil_daily` on the stage_since day) and
computes the days from `changed_from` to D; the model returns only those rows, which replace
the old ones (delete+insert on the key). In full mode every row is computed as before and
replaces its key. Either way the post-hooks (schema.yml) then drop the rows whose pupil-day
is no longer in `int_pupil_daily` (macros/stage_daily.sql) and log the build, which keeps the
model in the lockstep of macros/incremental.sql: a failed or missing build makes the next
run full.

A full build computes the academies sharing a policy and a calendar together too, up to
`STAGE_ROWS_TOGETHER` pupil-days a call: the engine walks the school days one by one with
numpy operations over the pupils, so its cost is mostly per day and per call: M's 50
academies in 6 groups walk 1,164 days instead of 9,700 (the model's reads and engine, the
same rows: 12.1-13.4 s -> 7.35-8.7 s, alternating).

Memory: `int_pupil_daily` holds every pupil x school day of the trust (8 million rows for
40,000 pupils), so it is never pulled whole into pandas. For each part DuckDB filters and
projects the relation to its academies' rows and the columns their policy reads, and the
result goes back as Arrow, one part's table at a time: the peak is one part (at most
`STAGE_ROWS_TOGETHER` pupil-days), not the trust.
"""

import os

import pyarrow as pa

# A full build's academies computed in one call of the engine (`_full_build_parts`): those
# sharing a policy and a calendar, up to this many pupil-days (about a tenth of M's year:
# 10 academies of 800 pupils; each call's frames ~150 MB more than one academy's).
STAGE_ROWS_TOGETHER = 2_000_000

# _kept_states looks for a changed pupil's last kept day this many days before its
# changed_from first (a school day is at most a weekend or a half term away), and over all
# its kept days only if none is there.
KEPT_WINDOW_DAYS = 14

OUTPUT = pa.schema(
    [
        ("urn", pa.string()),
        ("upn", pa.string()),
        ("calendar_date", pa.date32()),
        ("stage", pa.int64()),
        ("stage_name", pa.string()),
        ("stage_since", pa.date32()),
        ("school_days_at_stage", pa.int64()),
        ("action_due", pa.string()),
        ("event_kind", pa.string()),
        ("event_reason", pa.string()),
        ("policy", pa.string()),
    ]
)
# OUTPUT as the model hands it to DuckDB: the text columns the engine returns as categoricals
# stay dictionary-encoded, which DuckDB reads as VARCHAR (the table is the same), instead of
# Arrow building one string per row first (`_plain_table`). The event columns, mostly null,
# stay plain text: `_stage_table` sets them to OUTPUT's fields.
HANDED = pa.schema(
    [
        pa.field(f.name, pa.dictionary(pa.int32(), pa.string()))
        if f.name in ("urn", "upn", "stage_name", "action_due", "policy")
        else f
        for f in OUTPUT
    ]
)
# and the run date of the build that wrote the row: the rows a run wrote are read back by a
# constant (macros/stage_daily.sql, the data tests), skipping the older row groups
BUILT_ON = pa.field("built_on", pa.date32())


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["urn", "upn", "calendar_date"],
    )  # and a post-hook, in schema.yml (no Jinja in a Python model): macros/stage_daily.sql
    from attendance.config import load_policy, load_trust
    from attendance.home import Home

    home = Home.resolve(os.environ.get("ATTENDANCE_HOME"))
    trust = load_trust(home)
    daily = dbt.ref("int_pupil_daily")
    plan = dbt.ref("int_build_plan")
    changes = dbt.ref("int_pupil_changes")
    mode, run_date = plan.project("mode, run_date").fetchall()[0]
    policies = {a.policy: load_policy(home, a.policy) for a in trust.academies}
    resume = changed = None
    if dbt.is_incremental and mode == "incremental":
        calendar = dbt.ref("stg_calendar")
        resume = _kept_states(
            session, daily, changes, calendar, run_date, str(dbt.this), policies.values()
        )
        changed = _changed_days(session, daily, changes, run_date, policies.values())
    tables = []
    if resume is None:
        for policy_key, urns in _full_build_parts(session, daily, trust.academies):
            table = _academy_stages(daily, urns, policy_key, policies[policy_key])
            if table is not None:
                tables.append(table)
    else:
        for (policy_key, _), urns in _same_days(trust.academies).items():
            table = _resumed(changed, daily, resume, urns, policy_key, policies[policy_key])
            if table is not None:
                tables.append(table)
    table = pa.concat_tables(tables) if tables else OUTPUT.empty_table()
    return table.append_column(BUILT_ON, pa.array([run_date] * table.num_rows, BUILT_ON.type))


def _sub(relation):
    """A relation as a subquery, to join relations in one SQL statement."""
    return f"({relation.sql_query()})"


def _kept_states(session, daily, changes, calendar, run_date, this, policies):
    """Every changed pupil's state at the end of their last day before changed_from, as this
    table holds it (one small frame for the trust: one row per changed pupil).

    stage_since's school_day_index is that day's index minus school_days_at_stage. A pupil with
    no earlier day (new this year, or changed from the first day) is at stage 0 since the
    academy's first school day of the year, as the full computation starts everyone. With
    the state come the measures on the stage_since day that any of the trust's policies reads
    (what "since entry" rules and reasons compare against; unread at stage 0).
    Only pupils in the grid before this run (`in_grid`) have kept rows to look up: a pupil new
    to the grid changes from 1 September, and as the bound of the scan it made every run
    read the whole year's kept rows. A school day's school_day_index, and the academy's first
    school day of the year to D (where int_pupil_daily's grid starts), come from the calendar:
    looked up in int_pupil_daily, each was a scan of the year's pupil-days."""
    from attendance.calendar import academic_year_start
    from attendance.stages import KEY_COLUMNS, columns_read

    measures = sorted(
        {c for p in policies for c in columns_read(p, daily.columns) if c not in KEY_COLUMNS}
    )
    first = session.sql(f"select min(changed_from) from {_sub(changes)} where in_grid").fetchall()[
        0
    ][0]
    # A constant the scan can filter on before any join (DuckDB cannot push a join's range
    # down): the rows older than every window are never read into the aggregate.
    scan_from = (
        f"and kept.calendar_date >= date '{first.isoformat()}' - {KEPT_WINDOW_DAYS}"
        if first is not None
        else ""
    )
    last_state = """
            select kept.urn, kept.upn,
                   max(kept.calendar_date) as calendar_date,
                   arg_max(kept.stage, kept.calendar_date) as stage,
                   arg_max(kept.stage_since, kept.calendar_date) as stage_since,
                   arg_max(kept.school_days_at_stage, kept.calendar_date)
                       as school_days_at_stage"""
    return session.sql(
        f"""
        with changes as (select urn, upn, changed_from, in_grid from {_sub(changes)}),
        kept_pupils as (select urn, upn, changed_from from changes where in_grid),
        in_window as (
            -- a hash aggregate, not a window function: no sort of the kept rows; and only
            -- the days just before each pupil's changed_from (the day before, in a daily
            -- run), not the year's rows of every pupil
            {last_state}
            from {this} as kept
            inner join kept_pupils as changes
                on changes.urn = kept.urn and changes.upn = kept.upn
               and kept.calendar_date < changes.changed_from
               and kept.calendar_date >= changes.changed_from - {KEPT_WINDOW_DAYS}
            where true {scan_from}
            group by kept.urn, kept.upn
        ),
        beyond as (
            -- the rest: pupils with no kept day in their window (back from a break longer
            -- than the window, or changed from the year's first days), looked up over all
            -- their kept rows
            {last_state}
            from {this} as kept
            inner join (select * from kept_pupils anti join in_window using (urn, upn)) as rest
                on rest.urn = kept.urn and rest.upn = kept.upn
               and kept.calendar_date < rest.changed_from
            group by kept.urn, kept.upn
        ),
        last_kept as (select * from in_window union all select * from beyond),
        year_start as (
            select urn, min(calendar_date) as first_day, min(school_day_index) as first_index
            from {_sub(calendar)}
            where is_school_day
              and calendar_date between date '{academic_year_start(run_date).isoformat()}'
                                    and date '{run_date.isoformat()}'
            group by urn
        ),
        on_day as (
            select last_kept.urn, last_kept.upn, cal.school_day_index
            from last_kept
            inner join {_sub(calendar)} as cal
                on cal.urn = last_kept.urn and cal.calendar_date = last_kept.calendar_date
        ),
        -- the day read of each changed pupil at a stage, picked out by a semi join: as a left
        -- join the planner hashed the year's pupil-days to probe them with one row per pupil
        at_entry as (
            select d.urn, d.upn, {", ".join(f'd."{c}"' for c in measures)}
            from {_sub(daily)} as d
            semi join last_kept
                on last_kept.urn = d.urn and last_kept.upn = d.upn
               and last_kept.stage_since = d.calendar_date and last_kept.stage > 0
        )
        select
            changes.urn,
            changes.upn,
            coalesce(last_kept.stage, 0) as stage,
            coalesce(last_kept.stage_since, year_start.first_day) as stage_since,
            coalesce(on_day.school_day_index - last_kept.school_days_at_stage,
                     year_start.first_index) as stage_since_school_day_index,
            {", ".join(f'at_entry."{c}"' for c in measures)}
        from changes
        inner join year_start on year_start.urn = changes.urn
        left join last_kept on last_kept.urn = changes.urn and last_kept.upn = changes.upn
        left join on_day on on_day.urn = last_kept.urn and on_day.upn = last_kept.upn
        left join at_entry on at_entry.urn = last_kept.urn and at_entry.upn = last_kept.upn
        """
    ).df()


def _changed_days(session, daily, changes, run_date, policies):
    """The changed pupils' days from their changed_from on, for the whole trust in one query
    (a daily run: every pupil's new day, plus the days a correction reached), with the columns
    any of the trust's policies reads. One query instead of one per academy: each of those
    scanned int_pupil_daily again, most of the stage model's time in a daily run.
    Those days are all rows this run's int_pupil_daily wrote (it rewrites a changed pupil
    from the start of changed_from's week), found by their built_on: a pupil new to the grid
    changes from 1 September, and a join's bound would have read the whole year."""
    from attendance.stages import columns_read

    columns = sorted({c for p in policies for c in columns_read(p, daily.columns)})
    return session.sql(
        f"""
        select {", ".join(f'd."{c}"' for c in columns)}
        from {_sub(daily)} as d
        inner join {_sub(changes)} as c on c.urn = d.urn and c.upn = d.upn
        where d.calendar_date >= c.changed_from
          and d.built_on = date '{run_date.isoformat()}'
        """
    ).df()


def _same_days(academies):
    """The academies grouped by (policy, calendar), in registry order: the engine walks
    school days by `school_day_index`, which numbers one calendar's days, so academies on
    the same calendar share its day axis and, under the same policy, can be resumed in one
    call. A daily run's call per academy cost about 45 ms of fixed pandas work for one day
    of a few hundred pupils; a trust has a handful of policies and calendars."""
    groups = {}
    for academy in academies:
        groups.setdefault((academy.policy, academy.calendar), []).append(academy.urn)
    return groups


def _resumed(changed, daily, resume, urns, policy_key, policy):
    """The changed pupils of academies sharing a policy and a calendar (`_same_days`), from
    their changed_from to D, resumed from their kept states."""
    from attendance.stages import columns_read

    initial = resume[resume["urn"].isin(urns)]
    if initial.empty:
        return None
    columns = columns_read(policy, daily.columns)
    part = changed.loc[changed["urn"].isin(urns), columns].reset_index(drop=True)
    if part.empty:
        return None
    return _stage_table(part, policy, policy_key, initial)


def _full_build_parts(session, daily, academies):
    """(policy, URNs) of a full build's calls of the engine: the academies of each
    `_same_days` group in registry order, cut when the next would take the part past
    `STAGE_ROWS_TOGETHER` pupil-days (an academy larger than that is a part on its own);
    academies without pupil-days are left out."""
    rows = dict(session.sql(f"select urn, count(*) from {_sub(daily)} group by urn").fetchall())
    for (policy_key, _), urns in _same_days(academies).items():
        part, size = [], 0
        for urn in urns:
            n = rows.get(urn, 0)
            if n == 0:
                continue
            if part and size + n > STAGE_ROWS_TOGETHER:
                yield policy_key, part
                part, size = [], 0
            part.append(urn)
            size += n
        if part:
            yield policy_key, part


def _academy_stages(daily, urns, policy_key, policy):
    """The stage rows of academies under one policy and calendar as Arrow, or None when they
    have no pupil-days.

    The frame comes through Arrow with the keys as categoricals (a dictionary per column,
    encoded in C++; the engine factorizes them anyway): DuckDB's own pandas conversion built
    a string per row of urn and upn, most of the fetch's time (16 academies of M: 2.1 ->
    1.3 CPU-s)."""
    from attendance.stages import columns_read

    columns = columns_read(policy, daily.columns)
    chosen = ", ".join(f"'{urn}'" for urn in urns)
    relation = daily.filter(f"urn in ({chosen})").project(", ".join(f'"{c}"' for c in columns))
    part = relation.arrow().read_all().to_pandas(strings_to_categorical=True, date_as_object=False)
    if part.empty:
        return None
    return _stage_table(part, policy, policy_key)


def _stage_table(part, policy, policy_key, initial=None):
    """The engine's rows for one academy's frame, with the day's event, as Arrow.

    Dates stay datetime64 until the cast to OUTPUT's date32 (as Python dates they cost a
    conversion each way). The day's event (the last of the day's moves) is found by joining
    the few events to the rows' keys alone, in Arrow on VARCHAR keys (a pandas merge on the
    engine's categorical keys, whose categories differ between the two frames, first turned
    both into object arrays), and written into the event columns at the rows it names: a
    join of the whole table and a sort back to the engine's row order took every column of
    every row twice (a third of the model's own time in a full build of M)."""
    import numpy as np
    import pandas as pd

    from attendance.stages import compute_stages

    stage_daily, events = compute_stages(part, policy, initial)
    del part
    stage_daily["policy"] = pd.Categorical.from_codes(
        np.zeros(len(stage_daily), dtype=np.int8), categories=[policy_key]
    )
    stage_daily["calendar_date"] = pd.to_datetime(stage_daily["calendar_date"])
    stage_daily["stage_since"] = pd.to_datetime(stage_daily["stage_since"])
    stage_daily["event_kind"] = None
    stage_daily["event_reason"] = None
    table = _plain_table(stage_daily)
    if events.empty:
        return table
    last = (
        events.sort_values(["upn", "event_date", "kind"])
        .drop_duplicates(["urn", "upn", "event_date"], keep="last")
        .rename(
            columns={"event_date": "calendar_date", "reason": "event_reason", "kind": "event_kind"}
        )
    )
    last["calendar_date"] = pd.to_datetime(last["calendar_date"])
    event_columns = ["urn", "upn", "calendar_date", "event_kind", "event_reason"]
    event_schema = pa.schema([OUTPUT.field(c) for c in event_columns])
    last = pa.Table.from_pandas(last[event_columns], preserve_index=False).cast(event_schema)
    keys = table.select(["urn", "upn", "calendar_date"]).append_column(
        "_row", pa.array(np.arange(table.num_rows))
    )
    # every event is on one of the engine's rows: an inner join loses none
    found = keys.join(last, keys=["urn", "upn", "calendar_date"], join_type="inner")
    # each row's event, as a position in `found` (null: no event that day)
    at = np.full(table.num_rows, -1, dtype=np.int64)
    at[found.column("_row").to_numpy()] = np.arange(found.num_rows)
    at = pa.array(at, mask=at < 0)
    for name in ("event_kind", "event_reason"):
        table = table.set_column(
            table.schema.get_field_index(name), OUTPUT.field(name), found.column(name).take(at)
        )
    return table


def _plain_table(frame):
    """The engine returns text as pandas categoricals (cheap for millions of rows), which
    DuckDB would store as ENUM types: keys like urn must stay VARCHAR so joins and dbt
    unit-test fixtures with other values work. As Arrow dictionaries of strings (HANDED)
    DuckDB reads them as VARCHAR: casting them to plain strings here first took a second of
    a full build of M, one string per row (8 million rows: 0.57-1.28 CPU-s against
    0.28-0.29 as dictionaries, DuckDB's write no slower). The fixed schema lets academies
    with and without events be concatenated."""
    table = pa.Table.from_pandas(frame[OUTPUT.names], preserve_index=False)
    return table.cast(HANDED)
