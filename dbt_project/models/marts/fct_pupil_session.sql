-- The pupil-session fact: one row per academy, pupil, date and session, the winning mark as
-- known on D, with what it counts as (read with the code set in force on its date).
-- A view: its only reader in the build is fct_pupil_day, which sums it by pupil and day, so
-- the 15.7 million rows of a year (M) are never written out; the join with the codes and the
-- calendar is cheap beside writing them (a full build of M: writing the table 13-15 s and its
-- key test 5-7 s, against about 1.5 s more in fct_pupil_day reading the view; see
-- docs/benchmarks.md). Its key is the key of int_marks_current: the codes join matches one
-- code set per date (tests/assert_code_sets_do_not_overlap.sql) and the calendar one row per
-- academy and date (stg_calendar's key).
{{ config(materialized='view') }}
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
