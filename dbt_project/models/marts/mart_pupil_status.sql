-- One row per pupil on roll on D at each academy: every measure of SPEC 5.2 as of D, the stage
-- of SPEC 6, and what the exports need. Flags are decided on exact integers (macros/rates.sql).
with asof_day as (
    -- the academy's last school day on or before D (D itself on a school day)
    select urn, max(calendar_date) as asof_date, max(school_week_index) as week_index
    from {{ ref('stg_calendar') }}
    where is_school_day and calendar_date <= {{ run_date() }}
      and calendar_date >= {{ academic_year_start(run_date()) }}
    group by urn
),

previous_day as (
    select cal.urn, max(cal.calendar_date) as previous_date
    from {{ ref('stg_calendar') }} as cal
    inner join asof_day on asof_day.urn = cal.urn
    where cal.is_school_day and cal.calendar_date < asof_day.asof_date
      and cal.calendar_date >= {{ academic_year_start(run_date()) }}
    group by cal.urn
),

days_left as (
    select urn, count(*) as school_days_left
    from {{ ref('stg_calendar') }}
    where is_school_day
      and calendar_date > {{ run_date() }}
      and calendar_date < {{ academic_year_start(run_date()) }} + interval 1 year
    group by urn
),

on_roll as (
    {{ pupils_on_roll() }}
),

wanted_days as (
    select urn, asof_date as calendar_date from asof_day
    union all
    select urn, previous_date from previous_day
),

stage_asof as (
    -- the stages on the as-of and previous school days only (the table holds every day);
    -- the earliest of those days as a constant for the scan, which then skips the older
    -- days' row groups instead of reading the year's 8 million pupil-days to probe the join
    select stage.*
    from {{ ref('fct_pupil_stage_daily') }} as stage
    semi join wanted_days as wanted
        on wanted.urn = stage.urn and wanted.calendar_date = stage.calendar_date
    where stage.calendar_date >= (select min(calendar_date) from wanted_days)
),

today as (
    select daily.*
    from {{ ref('int_pupil_daily') }} as daily
    inner join asof_day on asof_day.urn = daily.urn and asof_day.asof_date = daily.calendar_date
),

yesterday as (
    select daily.*, stage.stage as previous_stage
    from {{ ref('int_pupil_daily') }} as daily
    inner join previous_day
        on previous_day.urn = daily.urn and previous_day.previous_date = daily.calendar_date
    left join stage_asof as stage
        on stage.urn = daily.urn and stage.upn = daily.upn and stage.calendar_date = daily.calendar_date
),

year_weeks as (
    -- every week of the academy's calendar with a day of the year to D in it
    select distinct urn, school_week_index
    from {{ ref('stg_calendar') }}
    where calendar_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
      and school_week_index is not null
),

lates as (
    -- The year's lates per pupil from int_pupil_week's weekly sums (1.5 million pupil-weeks
    -- by July) rather than from the year's 8 million pupil-days, which made this the part of
    -- the mart that grew with the year. A week's sums hold every day of it with a mark, so
    -- the days of the year's weeks outside the year to D (the first week's before 1 September,
    -- D's week's after D) are taken off again, and the year's days in no school week (a week
    -- of closures, which int_pupil_week leaves out) added: a few days' facts, each read
    -- between constant dates or (school_week_index is null) skipped by the row groups' stats.
    select
        urn,
        upn,
        cast(sum(late_before_close) as integer) as late_l_ytd,
        cast(sum(late_after_close) as integer) as late_u_ytd,
        cast(sum(minutes_late) as integer) as minutes_late_ytd,
        cast(sum(late_sessions_with_minutes) as integer) as late_with_minutes_ytd
    from (
        select pw.urn, pw.upn, pw.late_before_close, pw.late_after_close, pw.minutes_late,
               pw.late_sessions_with_minutes
        from {{ ref('int_pupil_week') }} as pw
        semi join year_weeks
            on year_weeks.urn = pw.urn and year_weeks.school_week_index = pw.school_week_index
        where pw.late_before_close <> 0 or pw.late_after_close <> 0 or pw.minutes_late <> 0
           or pw.late_sessions_with_minutes <> 0
        union all
        select day.urn, day.upn, -day.late_before_close, -day.late_after_close,
               -day.minutes_late, -day.late_sessions_with_minutes
        from {{ ref('fct_pupil_day') }} as day
        semi join year_weeks
            on year_weeks.urn = day.urn and year_weeks.school_week_index = day.school_week_index
        where {{ outside_year_in_its_weeks('day.mark_date') }}
        union all
        select day.urn, day.upn, day.late_before_close, day.late_after_close,
               day.minutes_late, day.late_sessions_with_minutes
        from {{ ref('fct_pupil_day') }} as day
        where day.mark_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
          and day.school_week_index is null
    )
    group by urn, upn
),

on_d as (
    select
        urn,
        upn,
        cast(sum(possible_sessions) as integer) as possible_on_d,
        cast(sum(attended_sessions) as integer) as attended_on_d
    from {{ ref('fct_pupil_day') }}
    where mark_date = {{ run_date() }}
    group by urn, upn
),

trend as (
    select
        pw.urn,
        pw.upn,
        cast(sum(case when pw.school_week_index > asof_day.week_index - {{ var('trend_school_weeks') }}
                 then pw.attended_sessions else 0 end) as integer) as attended_recent,
        cast(sum(case when pw.school_week_index > asof_day.week_index - {{ var('trend_school_weeks') }}
                 then pw.possible_sessions else 0 end) as integer) as possible_recent,
        cast(sum(case when pw.school_week_index <= asof_day.week_index - {{ var('trend_school_weeks') }}
                 then pw.attended_sessions else 0 end) as integer) as attended_before,
        cast(sum(case when pw.school_week_index <= asof_day.week_index - {{ var('trend_school_weeks') }}
                 then pw.possible_sessions else 0 end) as integer) as possible_before
    from {{ ref('int_pupil_week') }} as pw
    inner join asof_day on asof_day.urn = pw.urn
    where pw.school_week_index > asof_day.week_index - 2 * {{ var('trend_school_weeks') }}
      and pw.school_week_index <= asof_day.week_index
    group by pw.urn, pw.upn
),

measures as (
    select
        r.urn,
        r.upn,
        r.surname,
        r.forename,
        r.date_of_birth,
        r.gender,
        r.nc_year,
        r.reg_group,
        r.entry_date,
        r.fsm,
        r.sen,
        r.eal,
        r.ethnicity,
        r.home_la,
        -- DfE scope: aged 5 to 15 on 31 August before the academic year
        cast(year({{ academic_year_start(run_date()) }}) as integer) - year(r.date_of_birth)
            - case when month(r.date_of_birth) > 8 then 1 else 0 end as age_at_start,
        coalesce(t.possible_ytd, 0) as possible_sessions,
        coalesce(t.attended_ytd, 0) as attended_sessions,
        -- absence less unauthorised, so possible = attended + authorised + unauthorised always
        coalesce(t.absence_ytd, 0) - coalesce(t.unauthorised_ytd, 0)
            as authorised_absence_sessions,
        coalesce(t.unauthorised_ytd, 0) as unauthorised_absence_sessions,
        coalesce(t.absence_ytd, 0) as absence_sessions,
        coalesce(t.rolling_absence, 0) as rolling_absence_sessions,
        coalesce(t.rolling_unauthorised, 0) as rolling_unauthorised_sessions,
        coalesce(t.rolling_unauthorised_n, 0) as rolling_unauthorised_n_sessions,
        coalesce(t.consecutive_unexplained_days, 0) as consecutive_unexplained_days,
        coalesce(l.late_l_ytd, 0) as late_before_close_sessions,
        coalesce(l.late_u_ytd, 0) as late_after_close_sessions,
        coalesce(l.late_l_ytd, 0) + coalesce(l.late_u_ytd, 0) as late_sessions,
        coalesce(l.minutes_late_ytd, 0) as minutes_late,
        coalesce(l.late_with_minutes_ytd, 0) as late_sessions_with_minutes,
        coalesce(od.possible_on_d, 0) as possible_sessions_on_d,
        coalesce(od.attended_on_d, 0) as attended_sessions_on_d,
        coalesce(dl.school_days_left, 0) as school_days_left,
        tr.attended_recent,
        tr.possible_recent,
        tr.attended_before,
        tr.possible_before,
        y.upn is not null as known_yesterday,
        coalesce(y.severely_absent, false) as sa_yesterday,
        coalesce(y.persistent_absentee, false) as pa_yesterday,
        coalesce(y.cme_referral_due, false) as cme_yesterday,
        coalesce(y.penalty_threshold_met, false) as penalty_yesterday,
        coalesce(y.previous_stage, 0) as stage_yesterday,
        s.stage,
        s.stage_name,
        s.stage_since,
        s.school_days_at_stage,
        s.action_due,
        s.event_reason as stage_reason,
        s.policy
    from on_roll as r
    left join today as t on t.urn = r.urn and t.upn = r.upn
    left join lates as l on l.urn = r.urn and l.upn = r.upn
    left join on_d as od on od.urn = r.urn and od.upn = r.upn
    left join days_left as dl on dl.urn = r.urn
    left join trend as tr on tr.urn = r.urn and tr.upn = r.upn
    left join yesterday as y on y.urn = r.urn and y.upn = r.upn
    left join stage_asof as s
        on s.urn = t.urn and s.upn = t.upn and s.calendar_date = t.calendar_date
),

status as (
select
    a.laestab,
    a.la_code,
    a.academy_name,
    a.phase,
    m.*,
    m.age_at_start between 5 and 15 as in_dfe_scope,
    -- national statistics leave out the second half of the summer term for pupils aged 15
    -- (codes.md); the figures here keep every session, this column says which pupils differ
    m.age_at_start = 15 as dfe_scope_ends_before_late_summer,
    {{ pct_1dp('m.attended_sessions', 'm.possible_sessions') }} as attendance_pct,
    {{ pct_1dp('m.absence_sessions', 'm.possible_sessions') }} as absence_pct,
    {{ pct_1dp('m.attended_recent', 'm.possible_recent') }} as attendance_pct_recent_weeks,
    {{ pct_1dp('m.attended_before', 'm.possible_before') }} as attendance_pct_previous_weeks,
    m.absence_sessions / 2.0 as days_missed,
    {{ at_or_above_pct('m.absence_sessions', 'm.possible_sessions', var('pa_threshold_pct')) }}
        as persistent_absentee,
    {{ at_or_above_pct('m.absence_sessions', 'm.possible_sessions', var('sa_threshold_pct')) }}
        as severely_absent,
    m.rolling_unauthorised_sessions >= {{ var('penalty_unauthorised_sessions') }}
        as penalty_threshold_met,
    -- N may still be recoded, so a threshold that would not be met without them says so
    m.rolling_unauthorised_sessions >= {{ var('penalty_unauthorised_sessions') }}
        and m.rolling_unauthorised_sessions - m.rolling_unauthorised_n_sessions
            < {{ var('penalty_unauthorised_sessions') }} as penalty_threshold_relies_on_n,
    m.consecutive_unexplained_days >= {{ var('cme_consecutive_days') }} as cme_referral_due,
    -- sessions to spare: ceil((P + R) * pct / 100) - A - 1, R = two sessions per school day left
    ((m.possible_sessions + 2 * m.school_days_left) * {{ var('pa_threshold_pct') }} + 99) // 100
        - m.absence_sessions - 1 as sessions_to_spare,
    band.band,
    band.band_order
from measures as m
inner join {{ ref('stg_academies') }} as a on a.urn = m.urn
left join {{ ref('attendance_bands') }} as band
    on m.possible_sessions > 0
   and m.attended_sessions * 1000 >= m.possible_sessions * band.min_attendance_per_mille
   and band.band_order = (
        select min(b2.band_order) from {{ ref('attendance_bands') }} as b2
        where m.attended_sessions * 1000 >= m.possible_sessions * b2.min_attendance_per_mille
   )
)

select
    *,
    -- the run date these figures are for: exports refuse to publish marts built for another D
    {{ run_date() }} as as_of_date,
    not persistent_absentee and (
        {{ at_or_above_pct('absence_sessions', 'possible_sessions', var('at_risk_absence_pct')) }}
        or sessions_to_spare < {{ var('at_risk_sessions_to_spare') }}
    ) as at_risk_of_pa
from status
