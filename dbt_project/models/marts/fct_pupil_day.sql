-- The pupil-day fact: exactly one row per academy, pupil and date with a mark.
-- Incremental like fct_pupil_session: each changed pupil's days from the earliest re-ranked
-- mark on are recomputed.
-- A full build sums each month's sessions on its own (a day's sessions share its month:
-- `month_parts`) and writes the months in date order: one month's groups in the hash table
-- at a time instead of the year's 7.9 million pupil-days, and the table comes out in date
-- order for the daily build's date-bounded reads (M, alternating: see docs/benchmarks.md).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ clear_stale_rows('kept.mark_date >= changes.marks_from') }}",
    post_hook="{{ log_build() }}",
) }}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
{#- a full build: one part per kept month (and one for any other row), each in date order;
    an incremental one: the changed pupils' rows, one part #}
{%- set full = downstream_mode() == 'full' %}
{%- for part in (month_parts('sessions.mark_date') if full else [none]) %}
{%- if not loop.first %}
union all
{%- endif %}
(
select
    urn,
    upn,
    mark_date,
    any_value(academic_year) as academic_year,
    any_value(school_day_index) as school_day_index,
    any_value(school_week_index) as school_week_index,
    count(*) as marked_sessions,
    cast(sum(is_possible) as integer) as possible_sessions,
    cast(sum(is_attended) as integer) as attended_sessions,
    cast(sum(is_absence) as integer) as absence_sessions,
    cast(sum(is_authorised) as integer) as authorised_sessions,
    cast(sum(is_unauthorised) as integer) as unauthorised_sessions,
    cast(sum(is_unexplained * is_possible) as integer) as unexplained_sessions,
    -- N may still be recoded (codes.md): a penalty threshold reached with N marks says so
    cast(sum(case when code = 'N' then 1 else 0 end) as integer) as unauthorised_n_sessions,
    cast(sum(is_late_before_close) as integer) as late_before_close,
    cast(sum(is_late_after_close) as integer) as late_after_close,
    cast(sum(coalesce(minutes_late, 0) * is_late) as integer) as minutes_late,
    cast(sum(case when minutes_late is not null then is_late else 0 end) as integer)
        as late_sessions_with_minutes
from {{ ref('fct_pupil_session') }} as sessions
{{ changed_rows_only('sessions', 'mark_date', 'marks_from') }}
{%- if part %}
where ({{ part }})
{%- endif %}
group by urn, upn, mark_date
{%- if full %}
order by mark_date
{%- endif %}
)
{%- endfor %}
