-- One row per pupil per school day of D's academic year up to D: the measures as they stood
-- at the end of that day. Feeds the stage engine (a stage depends on the path, not just on D)
-- and the "new since the previous school day" comparisons.
with year_days as (
    select urn, calendar_date, academic_year, school_day_index, school_week_index
    from {{ ref('stg_calendar') }}
    where is_school_day
      and calendar_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),

pupils as (
    select distinct urn, upn
    from {{ ref('fct_pupil_day') }}
    where mark_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),

grid as (
    select
        pupils.urn,
        pupils.upn,
        year_days.calendar_date,
        year_days.academic_year,
        year_days.school_day_index,
        year_days.school_week_index,
        coalesce(day.possible_sessions, 0) as possible_sessions,
        coalesce(day.attended_sessions, 0) as attended_sessions,
        coalesce(day.absence_sessions, 0) as absence_sessions,
        coalesce(day.unauthorised_sessions, 0) as unauthorised_sessions,
        coalesce(day.unexplained_sessions, 0) as unexplained_sessions,
        coalesce(day.unauthorised_n_sessions, 0) as unauthorised_n_sessions,
        coalesce(day.marked_sessions, 0) as marked_sessions,
        -- SPEC 5.2 consecutive unexplained days: U counts, S is skipped, E ends the run.
        case
            when coalesce(day.possible_sessions, 0) > 0
                 and day.unexplained_sessions = day.possible_sessions then 'U'
            when coalesce(day.marked_sessions, 0) > 0
                 and coalesce(day.possible_sessions, 0) = 0 then 'S'
            else 'E'
        end as unexplained_class
    from pupils
    inner join year_days
        on pupils.urn = year_days.urn
    left join {{ ref('fct_pupil_day') }} as day
        on day.urn = pupils.urn
       and day.upn = pupils.upn
       and day.mark_date = year_days.calendar_date
),

cumulative as (
    select
        *,
        cast(sum(possible_sessions) over w as integer) as possible_ytd,
        cast(sum(attended_sessions) over w as integer) as attended_ytd,
        cast(sum(absence_sessions) over w as integer) as absence_ytd,
        cast(sum(unauthorised_sessions) over w as integer) as unauthorised_ytd,
        cast(sum(case when unexplained_class = 'U' then 1 else 0 end) over w as integer) as unexplained_days_cum,
        cast(sum(absence_sessions) over wk as integer) as absence_week_to_date,
        cast(sum(unauthorised_sessions) over wk as integer) as unauthorised_week_to_date,
        cast(sum(unauthorised_n_sessions) over wk as integer) as unauthorised_n_week_to_date
    from grid
    window
        w as (partition by urn, upn order by school_day_index rows between unbounded preceding and current row),
        wk as (partition by urn, upn, school_week_index order by school_day_index
               rows between unbounded preceding and current row)
),

with_run as (
    select
        *,
        unexplained_days_cum - coalesce(
            max(case when unexplained_class = 'E' then unexplained_days_cum end) over (
                partition by urn, upn order by school_day_index
                rows between unbounded preceding and current row
            ),
            0
        ) as consecutive_unexplained_days
    from cumulative
),

weeks as (
    select distinct urn, upn, school_week_index from grid
),

week_sessions as (
    -- every week a pupil has sessions in (the window spans terms and years), plus a zero row
    -- for each week of the grid so every grid week gets its window
    select urn, upn, school_week_index,
           cast(sum(absence_sessions) as integer) as absence_sessions,
           cast(sum(unauthorised_sessions) as integer) as unauthorised_sessions,
           cast(sum(unauthorised_n_sessions) as integer) as unauthorised_n_sessions
    from (
        select urn, upn, school_week_index,
               absence_sessions, unauthorised_sessions, unauthorised_n_sessions
        from {{ ref('int_pupil_week') }}
        union all
        select urn, upn, school_week_index, 0, 0, 0 from weeks
    )
    group by urn, upn, school_week_index
),

prior_weeks as (
    -- the weeks of the window before the current one: 9 for a 10-week window. A range window
    -- over the week numbers, not a join on a band of weeks: one sort instead of a join that
    -- multiplies every pupil-week by the window's width.
    select
        urn,
        upn,
        school_week_index,
        coalesce(cast(sum(absence_sessions) over prior as integer), 0) as absence_prior,
        coalesce(cast(sum(unauthorised_sessions) over prior as integer), 0) as unauthorised_prior,
        coalesce(cast(sum(unauthorised_n_sessions) over prior as integer), 0)
            as unauthorised_n_prior
    from week_sessions
    window prior as (
        partition by urn, upn order by school_week_index
        range between {{ var('rolling_school_weeks') - 1 }} preceding and 1 preceding
    )
)

select
    with_run.urn,
    with_run.upn,
    with_run.calendar_date,
    with_run.academic_year,
    with_run.school_day_index,
    with_run.school_week_index,
    with_run.possible_sessions,
    with_run.attended_sessions,
    with_run.absence_sessions,
    with_run.marked_sessions,
    with_run.possible_ytd,
    with_run.attended_ytd,
    with_run.absence_ytd,
    with_run.unauthorised_ytd,
    case when with_run.possible_ytd > 0
         then 100.0 * with_run.attended_ytd / with_run.possible_ytd end as attendance_pct_ytd,
    case when with_run.possible_ytd > 0
         then 100.0 * with_run.absence_ytd / with_run.possible_ytd end as absence_pct_ytd,
    prior_weeks.absence_prior + with_run.absence_week_to_date as rolling_absence,
    prior_weeks.unauthorised_prior + with_run.unauthorised_week_to_date as rolling_unauthorised,
    prior_weeks.unauthorised_n_prior + with_run.unauthorised_n_week_to_date
        as rolling_unauthorised_n,
    prior_weeks.unauthorised_prior + with_run.unauthorised_week_to_date
        >= {{ var('penalty_unauthorised_sessions') }} as penalty_threshold_met,
    {{ at_or_above_pct('with_run.absence_ytd', 'with_run.possible_ytd', var('pa_threshold_pct')) }}
        as persistent_absentee,
    {{ at_or_above_pct('with_run.absence_ytd', 'with_run.possible_ytd', var('sa_threshold_pct')) }}
        as severely_absent,
    with_run.consecutive_unexplained_days,
    with_run.consecutive_unexplained_days >= {{ var('cme_consecutive_days') }} as cme_referral_due
from with_run
inner join prior_weeks
    on prior_weeks.urn = with_run.urn
   and prior_weeks.upn = with_run.upn
   and prior_weeks.school_week_index = with_run.school_week_index
