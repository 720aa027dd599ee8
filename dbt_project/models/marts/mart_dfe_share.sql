-- SPEC 7.1 the DfE daily data share: every mark dated D, plus every earlier mark of the year
-- that is new or whose code changed since the share of the academy's previous school day.
-- "Since" compares marks known on each run date, so the file for D never depends on when it
-- is produced.
-- Only keys with a version extracted after the previous school day can differ from that day's
-- share (a mark dated D is extracted on D or later), so only those keys are ranked "as known
-- then": the cost follows the new deliveries, not the whole year.
with previous_day as (
    select academies.urn, coalesce(max(cal.calendar_date), date '1900-01-01') as previous_date
    from {{ ref('stg_academies') }} as academies
    left join {{ ref('stg_calendar') }} as cal
        on cal.urn = academies.urn
       and cal.is_school_day and cal.calendar_date < {{ run_date() }}
    group by academies.urn
),

changed_keys as (
    select distinct marks.urn, marks.upn, marks.mark_date, marks.session
    from {{ ref('stg_marks') }} as marks
    inner join previous_day on previous_day.urn = marks.urn
    where cast(marks.extracted_at as date) > previous_day.previous_date
      -- the same bound as a constant for the scan, which skips the older versions' row groups
      and marks.extracted_at >= (select min(previous_date) from previous_day) + interval 1 day
      and marks.mark_date >= {{ academic_year_start(run_date()) }}
),

known_then as (
    select marks.urn, marks.upn, marks.mark_date, marks.session, marks.code,
           row_number() over (
               partition by marks.urn, marks.upn, marks.mark_date, marks.session
               order by {{ latest_version_first('marks') }}
           ) as version_rank
    from {{ ref('stg_marks') }} as marks
    inner join changed_keys as keys
        on keys.urn = marks.urn and keys.upn = marks.upn
       and keys.mark_date = marks.mark_date and keys.session = marks.session
    inner join previous_day on previous_day.urn = marks.urn
    where cast(marks.extracted_at as date) <= previous_day.previous_date
),

previous_share as (
    select urn, upn, mark_date, session, code from known_then where version_rank = 1
),

current_marks as (
    -- the changed keys' marks as known on D (int_marks_current's winners), ranked from their
    -- versions: reading them from int_marks_current probed its every row for these keys
    select urn, upn, mark_date, session, code
    from (
        select marks.urn, marks.upn, marks.mark_date, marks.session, marks.code,
               row_number() over (
                   partition by marks.urn, marks.upn, marks.mark_date, marks.session
                   order by {{ latest_version_first('marks') }}
               ) as version_rank
        from {{ ref('stg_marks') }} as marks
        semi join changed_keys as keys
            on keys.urn = marks.urn and keys.upn = marks.upn
           and keys.mark_date = marks.mark_date and keys.session = marks.session
    ) as ranked
    where version_rank = 1
)

select
    a.laestab,
    cur.urn,
    cur.upn,
    cur.mark_date as attendance_date,
    cur.session,
    cur.code as attendance_code,
    case when cur.mark_date = {{ run_date() }} then 'N' else 'Y' end as amended,
    {{ run_date() }} as as_of_date
from current_marks as cur
inner join {{ ref('stg_academies') }} as a on a.urn = cur.urn
left join previous_share as prev
    on prev.urn = cur.urn and prev.upn = cur.upn
   and prev.mark_date = cur.mark_date and prev.session = cur.session
where cur.mark_date = {{ run_date() }}
   or prev.code is null
   or prev.code <> cur.code
