-- SPEC 7.4 per academy: pupils on roll, attendance YTD and on D, PA and SA, pupils per stage.
-- Rates are sessions over possible sessions summed over enrolments, never an average of rates.
select
    urn,
    any_value(laestab) as laestab,
    any_value(la_code) as la_code,
    any_value(academy_name) as academy_name,
    any_value(phase) as phase,
    count(*) as pupils_on_roll,
    cast(sum(possible_sessions) as integer) as possible_sessions,
    cast(sum(attended_sessions) as integer) as attended_sessions,
    cast(sum(absence_sessions) as integer) as absence_sessions,
    {{ pct_1dp('cast(sum(attended_sessions) as integer)', 'cast(sum(possible_sessions) as integer)') }} as attendance_pct_ytd,
    {{ pct_1dp('cast(sum(attended_sessions_on_d) as integer)', 'cast(sum(possible_sessions_on_d) as integer)') }} as attendance_pct_on_d,
    cast(sum(case when persistent_absentee then 1 else 0 end) as integer) as pa_count,
    {{ pct_1dp('cast(sum(case when persistent_absentee then 1 else 0 end) as integer)',
               'cast(sum(case when possible_sessions > 0 then 1 else 0 end) as integer)') }} as pa_pct,
    cast(sum(case when severely_absent then 1 else 0 end) as integer) as sa_count,
    {{ pct_1dp('cast(sum(case when severely_absent then 1 else 0 end) as integer)',
               'cast(sum(case when possible_sessions > 0 then 1 else 0 end) as integer)') }} as sa_pct,
    cast(sum(case when coalesce(stage, 0) = 0 then 1 else 0 end) as integer) as stage_0,
    cast(sum(case when stage = 1 then 1 else 0 end) as integer) as stage_1,
    cast(sum(case when stage = 2 then 1 else 0 end) as integer) as stage_2,
    cast(sum(case when stage = 3 then 1 else 0 end) as integer) as stage_3,
    cast(sum(case when stage = 4 then 1 else 0 end) as integer) as stage_4,
    cast(sum(case when stage >= 5 then 1 else 0 end) as integer) as stage_5_plus
from {{ ref('mart_pupil_status') }}
group by urn
