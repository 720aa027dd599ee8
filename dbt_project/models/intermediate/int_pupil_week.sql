-- Sessions per pupil per school week (weeks numbered per academy across terms and years), the
-- building block of every rolling-window measure.
-- Incremental: each changed pupil's weeks from the week of the earliest re-ranked mark on are
-- summed again (whole weeks, so the days of that week before the mark count too).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ clear_stale_rows('kept.school_week_index >= changes.marks_from_week') }}",
    post_hook="{{ log_build() }}",
) }}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
select
    urn,
    upn,
    school_week_index,
    cast(sum(possible_sessions) as integer) as possible_sessions,
    cast(sum(attended_sessions) as integer) as attended_sessions,
    cast(sum(absence_sessions) as integer) as absence_sessions,
    cast(sum(unauthorised_sessions) as integer) as unauthorised_sessions,
    cast(sum(unexplained_sessions) as integer) as unexplained_sessions,
    cast(sum(unauthorised_n_sessions) as integer) as unauthorised_n_sessions
from {{ ref('fct_pupil_day') }} as days
{{ changed_rows_only('days', 'school_week_index', 'marks_from_week') }}
where school_week_index is not null
group by urn, upn, school_week_index
