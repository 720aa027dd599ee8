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

versions as (
    -- every version of the changed keys, each marked whether it was known on the academy's
    -- previous school day
    select marks.urn, marks.upn, marks.mark_date, marks.session, marks.code,
           marks.extracted_at, marks.source_file, marks.source_row,
           cast(marks.extracted_at as date) <= previous_day.previous_date as known_then
    from {{ ref('stg_marks') }} as marks
    semi join changed_keys as keys
        on keys.urn = marks.urn and keys.upn = marks.upn
       and keys.mark_date = marks.mark_date and keys.session = marks.session
    inner join previous_day on previous_day.urn = marks.urn
    -- the changed keys' earliest date as a constant for the scan: with the semi join alone
    -- it read every version of the year to probe it, a cost that grew with the year (M, day
    -- 194: 10.6 million versions read, 0.56 million with the bound; the same rows out)
    where marks.mark_date >= (select min(mark_date) from changed_keys)
),

ranked as (
    -- in one pass, each key's mark as known on D (int_marks_current's winner) and as known
    -- on the previous school day (that day's share; null when the key was not known then)
    select urn, upn, mark_date, session,
           arg_max(code, {{ latest_version_key() }}) as code,
           arg_max(code, {{ latest_version_key() }}) filter (where known_then) as previous_code
    from versions
    group by urn, upn, mark_date, session
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
from ranked as cur
inner join {{ ref('stg_academies') }} as a on a.urn = cur.urn
where cur.mark_date = {{ run_date() }}
   or cur.previous_code is null
   or cur.previous_code <> cur.code
