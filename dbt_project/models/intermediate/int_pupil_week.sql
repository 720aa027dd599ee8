-- Sessions per pupil per school week (weeks numbered per academy across terms and years), the
-- building block of every rolling-window measure.
-- Incremental: each changed pupil's weeks from the week of the earliest re-ranked mark on are
-- summed again (whole weeks, so the days of that week before the mark count too).
-- The sums above count every day of the week with a mark (a closure day's too); the
-- school_*_d1 .. _d7 columns count the week's school days only, by ISO day of the week (1 =
-- Monday): mart_breakdowns' weekday and week slices read these 1.6 million pupil-weeks
-- instead of the year's 8 million pupil-days.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ clear_stale_rows('kept.school_week_index >= changes.marks_from_week') }}",
    post_hook="{{ log_build() }}",
) }}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
select
    days.urn,
    days.upn,
    days.school_week_index,
    cast(sum(possible_sessions) as integer) as possible_sessions,
    cast(sum(attended_sessions) as integer) as attended_sessions,
    cast(sum(absence_sessions) as integer) as absence_sessions,
    cast(sum(unauthorised_sessions) as integer) as unauthorised_sessions,
    cast(sum(unexplained_sessions) as integer) as unexplained_sessions,
    cast(sum(unauthorised_n_sessions) as integer) as unauthorised_n_sessions
    {%- for d in range(1, 8) %}
    {%- set on_day = "days.school_dow = " ~ d %},
    cast(count(*) filter (where {{ on_day }}) as integer) as school_days_d{{ d }},
    cast(coalesce(sum(days.possible_sessions) filter (where {{ on_day }}), 0) as integer)
        as school_possible_d{{ d }},
    cast(coalesce(sum(days.attended_sessions) filter (where {{ on_day }}), 0) as integer)
        as school_attended_d{{ d }},
    cast(coalesce(sum(days.absence_sessions) filter (where {{ on_day }}), 0) as integer)
        as school_absence_d{{ d }}
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
