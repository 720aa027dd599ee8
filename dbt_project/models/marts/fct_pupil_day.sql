-- The pupil-day fact: exactly one row per academy, pupil and date with a mark.
-- Incremental (macros/incremental.sql): each changed pupil's days from the earliest
-- re-ranked mark on are recomputed, from the fct_pupil_session view over int_marks_current.
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
{#- a day's session counts are summed packed (macros/packed_sums.sql), five to an aggregate:
    ten sums in two (M full build: this model 10.8-11.6 s -> 8.3-9.1 s) #}
{%- set first_five = ['is_possible', 'is_attended', 'is_absence', 'is_authorised',
                      'is_unauthorised'] %}
{%- set second_five = [
    'is_unexplained * is_possible',
    "case when code = 'N' then 1 else 0 end",
    'is_late_before_close',
    'is_late_after_close',
    'case when minutes_late is not null then is_late else 0 end',
] %}
{%- for part in (month_parts('sessions.mark_date') if full else [none]) %}
{%- if not loop.first %}
union all
{%- endif %}
(
select
    urn,
    upn,
    mark_date,
    academic_year,
    school_day_index,
    school_week_index,
    marked_sessions,
    {{ unpacked('first_sums', 0) }} as possible_sessions,
    {{ unpacked('first_sums', 1) }} as attended_sessions,
    {{ unpacked('first_sums', 2) }} as absence_sessions,
    {{ unpacked('first_sums', 3) }} as authorised_sessions,
    {{ unpacked('first_sums', 4) }} as unauthorised_sessions,
    {{ unpacked('second_sums', 0) }} as unexplained_sessions,
    -- N may still be recoded (codes.md): a penalty threshold reached with N marks says so
    {{ unpacked('second_sums', 1) }} as unauthorised_n_sessions,
    {{ unpacked('second_sums', 2) }} as late_before_close,
    {{ unpacked('second_sums', 3) }} as late_after_close,
    minutes_late,
    {{ unpacked('second_sums', 4) }} as late_sessions_with_minutes
from (
select
    urn,
    upn,
    mark_date,
    any_value(academic_year) as academic_year,
    any_value(school_day_index) as school_day_index,
    any_value(school_week_index) as school_week_index,
    count(*) as marked_sessions,
    sum({{ packed(first_five) }}) as first_sums,
    sum({{ packed(second_five) }}) as second_sums,
    cast(sum(coalesce(minutes_late, 0) * is_late) as integer) as minutes_late
from {{ ref('fct_pupil_session') }} as sessions
{{ changed_rows_only('sessions', 'mark_date', 'marks_from') }}
{%- if part %}
where ({{ part }})
{%- endif %}
group by urn, upn, mark_date
)
{%- if full %}
order by mark_date
{%- endif %}
)
{%- endfor %}
