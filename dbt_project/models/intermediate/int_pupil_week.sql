-- Sessions per pupil per school week (weeks numbered per academy across terms and years), the
-- building block of every rolling-window measure.
-- Incremental: each changed pupil's weeks from the week of the earliest re-ranked mark on are
-- summed again (whole weeks, so the days of that week before the mark count too).
-- The sums above count every day of the week with a mark (a closure day's too); dow_sums_1 ..
-- dow_sums_7 count the week's school days only, by ISO day of the week (1 = Monday), each
-- day's school days, possible, attended and absence sessions packed in one integer
-- (macros/packed_sums.sql; unpacked() fields 0-3): int_breakdown_slices, the weekday and week
-- slices of mart_breakdowns, reads these 1.6 million pupil-weeks instead of the year's 8
-- million pupil-days, and sums them packed. Stored packed, because the slices re-packed the
-- 28 counters of every pupil-week of the year in every daily run (M, 2 July, the slices'
-- query alone: 0.38 -> 0.28 s warm, 0.83 -> 0.61 CPU-s, the same rows).
-- mart_pupil_status's year-to-date lates read the late_* and minutes_late sums.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ clear_stale_rows('kept.school_week_index >= changes.marks_from_week') }}",
    post_hook="{{ log_build() }}",
) }}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
{%- set sums = ['possible_sessions', 'attended_sessions', 'absence_sessions',
                'unauthorised_sessions', 'unexplained_sessions', 'unauthorised_n_sessions',
                'late_before_close', 'late_after_close', 'late_sessions_with_minutes'] %}
-- Each group's counters are summed packed (macros/packed_sums.sql): the week's nine session
-- counts in two aggregates (five and four: at most 14 sessions a week each), each day of the
-- week's four in one, 9 aggregates instead of 34 (M full build: this model 7.4-8.2 s ->
-- 2.9-3.2 s). Minutes late have no such bound and are summed on their own.
select
    urn,
    upn,
    school_week_index
    {%- for column in sums %},
    {{ unpacked('week_sums_' ~ (loop.index0 // 5), loop.index0 % 5) }} as {{ column }}
    {%- endfor %},
    minutes_late
    {%- for d in range(1, 8) %},
    dow_sums_{{ d }}
    {%- endfor %}
from (
select
    days.urn,
    days.upn,
    days.school_week_index,
    sum({{ packed(sums[:5]) }}) as week_sums_0,
    sum({{ packed(sums[5:]) }}) as week_sums_1,
    cast(sum(days.minutes_late) as integer) as minutes_late
    {%- for d in range(1, 8) %},
    sum(case when days.school_dow = {{ d }}
             then {{ packed(['1', 'days.possible_sessions', 'days.attended_sessions',
                             'days.absence_sessions']) }}
             else 0 end) as dow_sums_{{ d }}
    {%- endfor %}
from (
    -- the day of the week of a school day's fact, null on any other day
    select facts.*, case when cal.is_school_day then isodow(facts.mark_date) end as school_dow
    from {{ ref('fct_pupil_day') }} as facts
    left join {{ ref('stg_calendar') }} as cal
        on cal.urn = facts.urn and cal.calendar_date = facts.mark_date
    {{ changed_rows_only('facts', 'school_week_index', 'marks_from_week') }}
    where facts.school_week_index is not null
) as days
group by days.urn, days.upn, days.school_week_index
)
