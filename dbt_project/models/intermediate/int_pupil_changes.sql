-- What an incremental run recomputes, per pupil (macros/incremental.sql): empty in a full one.
-- changed_from: the first date whose rows downstream can differ from the previous run's:
--   the earliest re-ranked mark (a new day, or a correction to an earlier day; no earlier
--   than 1 September, as the year-to-date rows start there), or the academy's first school
--   day after the previous run date (every pupil gains that day's row), or 1 September for a
--   pupil new to the year's grid (their grid starts on the year's first school day).
-- changed_week_from: the first school day of changed_from's school week (the day
--   int_pupil_daily recomputes from, as its sums within a week start there).
-- marks_from, marks_from_week: the earliest re-ranked mark date (which may be in the previous
--   academic year: the rolling window reaches back into it) and the first school week on or
--   after it; null when only new days are added. The session, day and week facts recompute
--   from there.
-- in_grid: the pupil had rows in the previous run's int_pupil_daily (and so in
--   fct_pupil_stage_daily); a pupil new to the grid has no kept rows there to read or clear.
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_marks_current') }}
-- depends_on: {{ ref('stg_calendar') }}
{%- set mode = 'full' %}
{%- if execute %}
  {%- set mode = run_query("select mode from " ~ ref('int_build_plan')).columns[0].values()[0] %}
{%- endif %}
{%- if mode == 'incremental' %}
with plan as (
    select run_date, previous_run_date from {{ ref('int_build_plan') }}
),

touched as (
    select urn, upn, first_date from {{ this.schema }}.int_marks_current_touched
),

in_grid as (
    -- the pupils the previous run's int_pupil_daily had rows for: its grid gives each of them
    -- a row on every school day of the year to the previous run date, so their rows on the
    -- academy's last school day by then (a distinct over the year's rows read them all)
    select daily.urn, daily.upn
    from {{ this.schema }}.int_pupil_daily as daily
    semi join (
        select cal.urn, max(cal.calendar_date) as last_day
        from {{ ref('stg_calendar') }} as cal, plan
        where cal.is_school_day
          and cal.calendar_date <= plan.previous_run_date
          and cal.calendar_date >= {{ academic_year_start(run_date()) }}
        group by cal.urn
    ) as last_days
        on last_days.urn = daily.urn and last_days.last_day = daily.calendar_date
),

next_day as (
    select cal.urn, min(cal.calendar_date) as next_school_day
    from {{ ref('stg_calendar') }} as cal, plan
    where cal.is_school_day
      and cal.calendar_date > plan.previous_run_date
      and cal.calendar_date <= plan.run_date
    group by cal.urn
),

pupils as (
    select urn, upn from touched
    union
    select urn, upn from in_grid
),

dated as (
    select
        pupils.urn,
        pupils.upn,
        case
            when in_grid.upn is null then {{ academic_year_start(run_date()) }}
            else greatest(
                {{ academic_year_start(run_date()) }},
                least(coalesce(touched.first_date, date '9999-12-31'),
                      coalesce(next_day.next_school_day, date '9999-12-31'))
            )
        end as changed_from,
        touched.first_date as marks_from,
        in_grid.upn is not null as in_grid
    from pupils
    left join in_grid on in_grid.urn = pupils.urn and in_grid.upn = pupils.upn
    left join touched on touched.urn = pupils.urn and touched.upn = pupils.upn
    left join next_day on next_day.urn = pupils.urn
),

first_weeks as (
    -- a handful of distinct (academy, date) pairs, not one lookup per pupil
    select starts.urn, starts.marks_from, min(cal.school_week_index) as marks_from_week
    from (select distinct urn, marks_from from dated where marks_from is not null) as starts
    inner join {{ ref('stg_calendar') }} as cal
        on cal.urn = starts.urn
       and cal.calendar_date >= starts.marks_from
       and cal.school_week_index is not null
    group by starts.urn, starts.marks_from
),

week_starts as (
    -- the first school day of the school week holding changed_from: int_pupil_daily's sums
    -- to date within a week start there
    select starts.urn, starts.changed_from, min(cal.calendar_date) as changed_week_from
    from (
        select starts.urn, starts.changed_from, min(cal.school_week_index) as week
        from (select distinct urn, changed_from from dated) as starts
        inner join {{ ref('stg_calendar') }} as cal
            on cal.urn = starts.urn
           and cal.is_school_day
           and cal.calendar_date >= starts.changed_from
        group by starts.urn, starts.changed_from
    ) as starts
    inner join {{ ref('stg_calendar') }} as cal
        on cal.urn = starts.urn
       and cal.is_school_day
       and cal.school_week_index = starts.week
       and cal.calendar_date >= {{ academic_year_start(run_date()) }}
    group by starts.urn, starts.changed_from
)

select
    dated.urn,
    dated.upn,
    dated.changed_from,
    coalesce(week_starts.changed_week_from, dated.changed_from) as changed_week_from,
    dated.marks_from,
    first_weeks.marks_from_week,
    dated.in_grid
from dated
left join first_weeks
    on first_weeks.urn = dated.urn and first_weeks.marks_from = dated.marks_from
left join week_starts
    on week_starts.urn = dated.urn and week_starts.changed_from = dated.changed_from
where dated.changed_from <= {{ run_date() }}
{%- else %}
select
    cast(null as varchar) as urn,
    cast(null as varchar) as upn,
    cast(null as date) as changed_from,
    cast(null as date) as changed_week_from,
    cast(null as date) as marks_from,
    cast(null as integer) as marks_from_week,
    cast(null as boolean) as in_grid
where false
{%- endif %}
