-- The weekday and week slices of mart_breakdowns (SPEC 5.3), per academy, as of D: for each
-- day of the week and each school week of the year to D, the pupils on roll with a school
-- day's row in it and their sessions. mart_breakdowns adds the trust's sums and the rates.
-- Population: the pupils on roll on D (macros/population.sql, mart_pupil_status's rule).
-- Its own model, on the roll rather than on mart_pupil_status, so that a build runs it beside
-- the stage model, whose Python engine leaves much of the second core idle, instead of after
-- mart_pupil_status at the end of the daily run's chain of models (it was most of
-- mart_breakdowns' time: M, day 194, the chain after int_pupil_daily 5.25 -> 4.74 s, medians
-- of 6 alternating runs). It reads nothing of int_pupil_daily: the dependency below only
-- holds it back until the stage model starts, as beside int_pupil_daily two queries shared
-- the two cores' threads and gained nothing.
-- depends_on: {{ ref('int_pupil_daily') }}
with on_roll as (
    {{ pupils_on_roll() }}
),

year_weeks as (
    -- the school weeks of the year to D, each with its Monday
    select distinct urn, school_week_index, week_start as monday
    from {{ ref('stg_calendar') }}
    where is_school_day
      and calendar_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),

-- The weekday and week slices come from int_pupil_week's school-day sums by day of the week
-- (1.6 million pupil-weeks at 40,000 pupils by July) rather than from the year's 8 million
-- pupil-days, which made this the mart of a daily run that grew most over the year. A
-- week's sums hold all its school days, so the facts of the year's first week before
-- 1 September and of D's week after D are taken off again (edge_days, a few days' facts).
-- Each day of the week's four counters come packed in one integer (int_pupil_week's
-- dow_sums_1 .. 7, macros/packed_sums.sql: a pupil's year on one day of the week is at most
-- 53 days and 106 sessions), summed over the pupil's weeks in one aggregate and over the
-- week's days for its total: 7 sums a pupil instead of 28, and a narrow table of pupil-weeks
-- for the two slices to share (M, 1 July, this query alone: 0.65 s and 1.8 CPU-s -> 0.47 s
-- and 1.07 CPU-s, the same rows; packed in int_pupil_week rather than here, 0.28 s warm).
{%- set counters = ['days', 'possible', 'attended', 'absence'] %}
pupil_weeks as (
    select pw.urn, pw.upn, pw.school_week_index, year_weeks.monday
        {%- for d in range(1, 8) %},
        pw.dow_sums_{{ d }} as dow_{{ d }}
        {%- endfor %}
    from {{ ref('int_pupil_week') }} as pw
    inner join year_weeks
        on year_weeks.urn = pw.urn and year_weeks.school_week_index = pw.school_week_index
    semi join on_roll on on_roll.urn = pw.urn and on_roll.upn = pw.upn
),

edge_days as (
    select day.urn, day.upn, day.school_week_index, isodow(day.mark_date) as dow,
           day.possible_sessions as possible, day.attended_sessions as attended,
           day.absence_sessions as absence
    from {{ ref('fct_pupil_day') }} as day
    semi join {{ ref('stg_calendar') }} as cal
        on cal.urn = day.urn and cal.calendar_date = day.mark_date and cal.is_school_day
    semi join year_weeks
        on year_weeks.urn = day.urn and year_weeks.school_week_index = day.school_week_index
    semi join on_roll on on_roll.urn = day.urn and on_roll.upn = day.upn
    where {{ outside_year_in_its_weeks('day.mark_date') }}
),

pupil_dows as (
    -- each pupil's school days and sessions by day of the week, over the year's weeks
    select urn, upn
        {%- for d in range(1, 8) %}
        {%- for m in counters %},
        {{ unpacked('dow_' ~ d, loop.index0) }} as {{ m }}_{{ d }}
        {%- endfor %}
        {%- endfor %}
    from (
        select urn, upn
            {%- for d in range(1, 8) %},
            sum(dow_{{ d }}) as dow_{{ d }}
            {%- endfor %}
        from pupil_weeks
        group by urn, upn
    )
),

edges as (
    -- the edge days' facts per pupil and day of the week (school_week_index null), and per
    -- pupil and week (dow null)
    select urn, upn, dow, school_week_index, count(*) as days, sum(possible) as possible,
           sum(attended) as attended, sum(absence) as absence
    from edge_days
    group by grouping sets ((urn, upn, dow), (urn, upn, school_week_index))
),

weekday_pupils as (
    -- one row per pupil and day of the week with a school day in the slice
    {%- for d in range(1, 8) %}
    select p.urn, p.upn, {{ d }} as dow,
           p.possible_{{ d }} - coalesce(e.possible, 0) as possible,
           p.attended_{{ d }} - coalesce(e.attended, 0) as attended,
           p.absence_{{ d }} - coalesce(e.absence, 0) as absence
    from pupil_dows as p
    left join edges as e on e.urn = p.urn and e.upn = p.upn and e.dow = {{ d }}
    where p.days_{{ d }} - coalesce(e.days, 0) > 0
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),


week_pupils as (
    -- one row per pupil and week with a school day in the slice
    {%- set days = [] %}
    {%- for d in range(1, 8) %}{% do days.append('pw.dow_' ~ d) %}{% endfor %}
    {%- set week = '(' ~ days | join(' + ') ~ ')' %}
    select pw.urn, pw.upn, pw.monday
        {%- for m in counters[1:] %},
        {{ unpacked(week, loop.index) }} - coalesce(e.{{ m }}, 0) as {{ m }}
        {%- endfor %}
    from pupil_weeks as pw
    left join edges as e
        on e.urn = pw.urn and e.upn = pw.upn and e.school_week_index = pw.school_week_index
    where {{ unpacked(week, 0) }} - coalesce(e.days, 0) > 0
),

slice_academy as (
    -- a day of the week or a week is in its slice when some pupil on roll has a school day's
    -- row in it; weekdays are named "1 Monday" .. "7 Sunday" (1 January 2024 was a Monday)
    select urn, dimension, value,
           cast(count(*) filter (where possible > 0) as integer) as pupils,
           cast(sum(possible) as integer) as possible,
           cast(sum(attended) as integer) as attended,
           cast(sum(absence) as integer) as absence
    from (
        select urn, 'weekday' as dimension,
               cast(dow as varchar) || ' '
                   || dayname(date '2024-01-01' + cast(dow - 1 as integer)) as value,
               possible, attended, absence
        from weekday_pupils
        union all
        select urn, 'week' as dimension, cast(monday as varchar) as value,
               possible, attended, absence
        from week_pupils
    )
    group by urn, dimension, value
)

select urn, dimension, value, pupils, possible, attended, absence
from slice_academy
