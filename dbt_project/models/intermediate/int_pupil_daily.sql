-- One row per pupil per school day of D's academic year up to D: the measures as they stood
-- at the end of that day. Feeds the stage engine (a stage depends on the path, not just on D)
-- and the "new since the previous school day" comparisons.
-- Incremental (macros/incremental.sql): a run recomputes each changed pupil's rows from the
-- first school day of the week of int_pupil_changes.changed_from, carrying the running sums
-- and the unexplained run on from the pupil's kept row of the school day before (or, with
-- no kept row before, from the previous academic year's last school days: `carried`). Every
-- scan of kept rows and day facts is also cut at the constant changes_read_from().
-- built_on: the run date of the build that wrote the row, so the rows a run wrote are read
-- back by a constant (a new pupil's go back to 1 September) and skip the older row groups.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ clear_stale_rows('kept.calendar_date >= changes.changed_week_from"
             " and kept.calendar_date >= ' ~ changes_read_from()) }}",
    post_hook="{{ log_build() }}",
) }}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
-- depends_on: {{ ref('stg_calendar') }}
{%- set incremental = downstream_mode() == 'incremental' %}
{%- set read_from = changes_read_from() if incremental else none %}
{#- the previous academic year's first day: the consecutive unexplained run reaches back to it #}
{%- set previous_year_start =
    'cast(' ~ academic_year_start(run_date()) ~ ' - interval 1 year as date)' %}
with year_days as (
    -- week_position: the school days before this one in its week (the week-to-date frame)
    select urn, calendar_date, academic_year, school_day_index, school_week_index,
           row_number() over (partition by urn, school_week_index order by calendar_date) - 1
               as week_position
    from {{ ref('stg_calendar') }}
    where is_school_day
      and calendar_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),

{%- if incremental %}
changed as (
    -- the changed pupils, each with the day its rows are recomputed from
    select changes.urn, changes.upn, changes.changed_week_from as grid_from,
           cal.school_week_index as grid_from_week
    from {{ ref('int_pupil_changes') }} as changes
    inner join {{ ref('stg_calendar') }} as cal
        on cal.urn = changes.urn and cal.calendar_date = changes.changed_week_from
),

seeds as (
    -- where each pupil's sums stood at the end of the school day before grid_from
    select kept.urn, kept.upn, kept.possible_ytd, kept.attended_ytd, kept.absence_ytd,
           kept.unauthorised_ytd, kept.consecutive_unexplained_days
    from {{ this }} as kept
    inner join changed on changed.urn = kept.urn and changed.upn = kept.upn
    inner join (
        -- the school day before each distinct grid_from of an academy (a handful of pairs:
        -- per pupil, this paired every pupil with every school day before its grid_from)
        select starts.urn, starts.grid_from, max(cal.calendar_date) as seed_date
        from (select distinct urn, grid_from from changed) as starts
        inner join {{ ref('stg_calendar') }} as cal
            on cal.urn = starts.urn
           and cal.is_school_day
           and cal.calendar_date >= {{ academic_year_start(run_date()) }}
           and cal.calendar_date < starts.grid_from
        group by starts.urn, starts.grid_from
    ) as seed_days
        on seed_days.urn = changed.urn
       and seed_days.grid_from = changed.grid_from
       and seed_days.seed_date = kept.calendar_date
    where kept.calendar_date >= {{ read_from }}
),

unproven as (
    -- A changed pupil stays in the grid while it has a day fact this year. One with possible
    -- sessions by its seed day has: its day facts before grid_from are unchanged (a pupil's
    -- facts change from marks_from on, which is never before changed_from). The others are
    -- looked up from read_from on, where the facts this run wrote are; the rest (rarely
    -- any) over the year. Looked up over the year for every pupil, this read the year's 8
    -- million pupil-days every day.
    select changed.*
    from changed
    anti join seeds
        on seeds.urn = changed.urn and seeds.upn = changed.upn and seeds.possible_ytd > 0
),

marked_lately as (
    select unproven.*
    from unproven
    semi join {{ ref('fct_pupil_day') }} as day
        on day.urn = unproven.urn
       and day.upn = unproven.upn
       and day.mark_date between {{ read_from }} and {{ run_date() }}
),

pupils as (
    select changed.*
    from changed
    semi join seeds
        on seeds.urn = changed.urn and seeds.upn = changed.upn and seeds.possible_ytd > 0
    union all
    select * from marked_lately
    union all
    select unproven.*
    from unproven
    anti join marked_lately
        on marked_lately.urn = unproven.urn and marked_lately.upn = unproven.upn
    semi join {{ ref('fct_pupil_day') }} as day
        on day.urn = unproven.urn
       and day.upn = unproven.upn
       and day.mark_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),
{%- else %}
pupils as (
    -- the grid's pupils (a mark this year), each with the day its rows start
    select distinct urn, upn, {{ academic_year_start(run_date()) }} as grid_from,
           cast(null as integer) as grid_from_week
    from {{ ref('fct_pupil_day') }}
    where mark_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),

seeds as (
    select cast(null as varchar) as urn, cast(null as varchar) as upn,
           0 as possible_ytd, 0 as attended_ytd, 0 as absence_ytd, 0 as unauthorised_ytd,
           0 as consecutive_unexplained_days
    where false
),
{%- endif %}

numbered as (
    -- the grid's pupils numbered: the windows below partition by this one integer rather than
    -- by two text columns, a cheaper sort (M full build: this model about 10% faster)
    select *, cast(row_number() over (order by urn, upn) as integer) as pupil_number
    from pupils
),

-- The unexplained run does not stop at 1 September: SPEC 5.2 counts back over the pupil's
-- school days, and the summer holiday holds none, so a pupil missing since July who does not
-- come back in September is counted from July (the children-missing-education case the
-- count is for). carried: the run at the end of the previous academic year, for the pupils
-- whose rows start on the year's first school day (every pupil in a full build; in an
-- incremental one, those without a kept row to seed from). The marks are kept from
-- 1 September of the previous year (int_marks_current), so that is as far back as it counts.
year_first as (
    select urn, min(calendar_date) as first_day from year_days group by urn
),

previous_days as (
    -- the previous academic year's school days, each academy's last one marked
    select urn, calendar_date,
           calendar_date = max(calendar_date) over (partition by urn) as is_last
    from {{ ref('stg_calendar') }}
    where is_school_day
      and calendar_date >= {{ previous_year_start }}
      and calendar_date < {{ academic_year_start(run_date()) }}
),

carry_pupils as (
    -- only a pupil whose last school day of that year did not end the run has one to carry:
    -- a handful, so the year is walked back for them alone
    select pupils.urn, pupils.upn
    from pupils
    inner join year_first
        on year_first.urn = pupils.urn and pupils.grid_from <= year_first.first_day
    inner join previous_days as days on days.urn = pupils.urn and days.is_last
    inner join {{ ref('fct_pupil_day') }} as day
        on day.urn = pupils.urn and day.upn = pupils.upn and day.mark_date = days.calendar_date
    where {{ unexplained_class('day') }} <> 'E'
      -- as constants for the scan: the previous year's row groups alone
      and day.mark_date >= {{ previous_year_start }}
      and day.mark_date < {{ academic_year_start(run_date()) }}
),

previous_classes as (
    select carry_pupils.urn, carry_pupils.upn, days.calendar_date,
           {{ unexplained_class('day') }} as unexplained_class
    from carry_pupils
    inner join previous_days as days on days.urn = carry_pupils.urn
    left join {{ ref('fct_pupil_day') }} as day
        on day.urn = carry_pupils.urn
       and day.upn = carry_pupils.upn
       and day.mark_date = days.calendar_date
       and day.mark_date >= {{ previous_year_start }}
       and day.mark_date < {{ academic_year_start(run_date()) }}
),

carried as (
    -- the U days after the pupil's last E day of the previous year
    select classes.urn, classes.upn, cast(count(*) as integer) as unexplained_run
    from previous_classes as classes
    left join (
        select urn, upn, max(calendar_date) as last_end
        from previous_classes
        where unexplained_class = 'E'
        group by urn, upn
    ) as ends
        on ends.urn = classes.urn and ends.upn = classes.upn
    where classes.unexplained_class = 'U'
      and (ends.last_end is null or classes.calendar_date > ends.last_end)
    group by classes.urn, classes.upn
),

grid as (
    select
        pupils.urn,
        pupils.upn,
        pupils.pupil_number,
        year_days.calendar_date,
        year_days.academic_year,
        year_days.school_day_index,
        year_days.school_week_index,
        year_days.week_position,
        coalesce(day.possible_sessions, 0) as possible_sessions,
        coalesce(day.attended_sessions, 0) as attended_sessions,
        coalesce(day.absence_sessions, 0) as absence_sessions,
        coalesce(day.unauthorised_sessions, 0) as unauthorised_sessions,
        coalesce(day.unexplained_sessions, 0) as unexplained_sessions,
        coalesce(day.unauthorised_n_sessions, 0) as unauthorised_n_sessions,
        coalesce(day.marked_sessions, 0) as marked_sessions,
        -- SPEC 5.2 consecutive unexplained days: U counts, S is skipped, E ends the run.
        {{ unexplained_class('day') }} as unexplained_class,
        coalesce(seeds.possible_ytd, 0) as seed_possible,
        coalesce(seeds.attended_ytd, 0) as seed_attended,
        coalesce(seeds.absence_ytd, 0) as seed_absence,
        coalesce(seeds.unauthorised_ytd, 0) as seed_unauthorised,
        coalesce(seeds.consecutive_unexplained_days, carried.unexplained_run, 0)
            as seed_unexplained_run
    from numbered as pupils
    inner join year_days
        on pupils.urn = year_days.urn
       and year_days.calendar_date >= pupils.grid_from
    left join {{ ref('fct_pupil_day') }} as day
        on day.urn = pupils.urn
       and day.upn = pupils.upn
       and day.mark_date = year_days.calendar_date
       {%- if incremental %}
       and day.mark_date >= {{ read_from }}
       {%- endif %}
    left join seeds on seeds.urn = pupils.urn and seeds.upn = pupils.upn
    left join carried on carried.urn = pupils.urn and carried.upn = pupils.upn
),

cumulative as (
    -- running sums from grid_from, on top of the seed (none in a full build); each window's
    -- counters summed in one aggregate (macros/packed_sums.sql)
    select
        *,
        cast(seed_possible + {{ unpacked('year_sums', 0) }} as integer) as possible_ytd,
        cast(seed_attended + {{ unpacked('year_sums', 1) }} as integer) as attended_ytd,
        cast(seed_absence + {{ unpacked('year_sums', 2) }} as integer) as absence_ytd,
        cast(seed_unauthorised + {{ unpacked('year_sums', 3) }} as integer) as unauthorised_ytd,
        {{ unpacked('year_sums', 4) }} as unexplained_days_cum,
        {{ unpacked('week_sums', 0) }} as absence_week_to_date,
        {{ unpacked('week_sums', 1) }} as unauthorised_week_to_date,
        {{ unpacked('week_sums', 2) }} as unauthorised_n_week_to_date
    from (
        select
            *,
            sum({{ packed(['possible_sessions', 'attended_sessions', 'absence_sessions',
                           'unauthorised_sessions',
                           "case when unexplained_class = 'U' then 1 else 0 end"]) }}) over w
                as year_sums,
            sum({{ packed(['absence_sessions', 'unauthorised_sessions',
                           'unauthorised_n_sessions']) }}) over wk as week_sums
        from grid
        window
            w as (partition by pupil_number order by school_day_index
                  rows between unbounded preceding and current row),
            -- the week to date: the pupil's rows back to the week's first school day. The grid
            -- holds every school day from grid_from (a week's first school day, or the year's
            -- first), so these are the week's rows; the same sort as w, where a partition by
            -- week sorted the 8 million pupil-days a second time (M full build 20.3 -> 15.5 s)
            wk as (partition by pupil_number order by school_day_index
                   rows between week_position preceding and current row)
    )
),

with_run as (
    select
        *,
        unexplained_days_cum - coalesce(
            max(case when unexplained_class = 'E' then unexplained_days_cum end) over (
                partition by pupil_number order by school_day_index
                rows between unbounded preceding and current row
            ),
            -seed_unexplained_run  -- no E since grid_from: the run carries on
        ) as consecutive_unexplained_days
    from cumulative
),

weeks as (
    select distinct pupil_number, school_week_index from grid
),

week_sessions as (
    -- every week a pupil has sessions in (the window spans terms and years), plus a zero row
    -- for each week of the grid so every grid week gets its window
    select pupil_number, school_week_index,
           cast(sum(absence_sessions) as integer) as absence_sessions,
           cast(sum(unauthorised_sessions) as integer) as unauthorised_sessions,
           cast(sum(unauthorised_n_sessions) as integer) as unauthorised_n_sessions
    from (
        select pupils.pupil_number, pw.school_week_index,
               pw.absence_sessions, pw.unauthorised_sessions, pw.unauthorised_n_sessions
        from {{ ref('int_pupil_week') }} as pw
        inner join numbered as pupils
            on pupils.urn = pw.urn
           and pupils.upn = pw.upn
        {%- if incremental %}
           and pw.school_week_index >= pupils.grid_from_week - {{ var('rolling_school_weeks') - 1 }}
        {%- endif %}
        union all
        select pupil_number, school_week_index, 0, 0, 0 from weeks
    )
    group by pupil_number, school_week_index
),

prior_weeks as (
    -- the weeks of the window before the current one: 9 for a 10-week window. A range window
    -- over the week numbers, not a join on a band of weeks: one sort instead of a join that
    -- multiplies every pupil-week by the window's width. Its three sums in one aggregate.
    select
        pupil_number,
        school_week_index,
        {{ unpacked('coalesce(prior_sums, 0)', 0) }} as absence_prior,
        {{ unpacked('coalesce(prior_sums, 0)', 1) }} as unauthorised_prior,
        {{ unpacked('coalesce(prior_sums, 0)', 2) }} as unauthorised_n_prior
    from (
        select
            pupil_number,
            school_week_index,
            sum({{ packed(['absence_sessions', 'unauthorised_sessions',
                           'unauthorised_n_sessions']) }}) over (
                partition by pupil_number order by school_week_index
                range between {{ var('rolling_school_weeks') - 1 }} preceding and 1 preceding
            ) as prior_sums
        from week_sessions
    )
)


select
    with_run.urn,
    with_run.upn,
    with_run.calendar_date,
    with_run.academic_year,
    with_run.school_day_index,
    with_run.school_week_index,
    with_run.possible_sessions,
    with_run.attended_sessions,
    with_run.absence_sessions,
    with_run.marked_sessions,
    with_run.possible_ytd,
    with_run.attended_ytd,
    with_run.absence_ytd,
    with_run.unauthorised_ytd,
    case when with_run.possible_ytd > 0
         then 100.0 * with_run.attended_ytd / with_run.possible_ytd end as attendance_pct_ytd,
    case when with_run.possible_ytd > 0
         then 100.0 * with_run.absence_ytd / with_run.possible_ytd end as absence_pct_ytd,
    prior_weeks.absence_prior + with_run.absence_week_to_date as rolling_absence,
    prior_weeks.unauthorised_prior + with_run.unauthorised_week_to_date as rolling_unauthorised,
    prior_weeks.unauthorised_n_prior + with_run.unauthorised_n_week_to_date
        as rolling_unauthorised_n,
    prior_weeks.unauthorised_prior + with_run.unauthorised_week_to_date
        >= {{ var('penalty_unauthorised_sessions') }} as penalty_threshold_met,
    {{ at_or_above_pct('with_run.absence_ytd', 'with_run.possible_ytd', var('pa_threshold_pct')) }}
        as persistent_absentee,
    {{ at_or_above_pct('with_run.absence_ytd', 'with_run.possible_ytd', var('sa_threshold_pct')) }}
        as severely_absent,
    with_run.consecutive_unexplained_days,
    with_run.consecutive_unexplained_days >= {{ var('cme_consecutive_days') }} as cme_referral_due,
    {{ run_date() }} as built_on
from with_run
inner join prior_weeks
    on prior_weeks.pupil_number = with_run.pupil_number
   and prior_weeks.school_week_index = with_run.school_week_index
