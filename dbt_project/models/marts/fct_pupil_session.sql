-- The pupil-session fact: one row per academy, pupil, date and session, the winning mark as
-- known on D, with what it counts as (read with the code set in force on its date).
-- Incremental (macros/incremental.sql): a run replaces each changed pupil's rows from the
-- earliest re-ranked mark on.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ clear_stale_rows('kept.mark_date >= changes.marks_from') }}",
    post_hook="{{ log_build() }}",
) }}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
select
    marks.urn,
    marks.upn,
    marks.mark_date,
    marks.session,
    marks.code,
    codes.category,
    codes.is_possible,
    codes.is_present,
    codes.is_attended,
    codes.is_absence,
    codes.is_authorised,
    codes.is_unauthorised,
    codes.is_late,
    codes.is_unexplained,
    case when marks.code = 'L' then 1 else 0 end as is_late_before_close,
    case when marks.code = 'U' then 1 else 0 end as is_late_after_close,
    marks.minutes_late,
    marks.arrival_time,
    cal.academic_year,
    cal.school_day_index,
    cal.school_week_index,
    cal.is_school_day,
    marks.source_file,
    marks.source_row,
    marks.extracted_at
from {{ ref('int_marks_current') }} as marks
inner join {{ ref('stg_dfe_codes') }} as codes
    on marks.code = codes.code
   and marks.mark_date between codes.valid_from and codes.valid_to
left join {{ ref('stg_calendar') }} as cal
    on cal.urn = marks.urn
   and cal.calendar_date = marks.mark_date
{{ changed_rows_only('marks', 'mark_date', 'marks_from') }}
