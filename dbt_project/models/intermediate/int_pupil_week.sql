-- Sessions per pupil per school week (weeks numbered per academy across terms and years), the
-- building block of every rolling-window measure.
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
from {{ ref('fct_pupil_day') }}
where school_week_index is not null
group by urn, upn, school_week_index
