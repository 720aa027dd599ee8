-- SPEC 7.1 the DfE daily data share: every mark dated D, plus every earlier mark of the year
-- that is new or whose code changed since the share of the academy's previous school day.
-- "Since" compares marks known on each run date, so the file for D never depends on when it
-- is produced.
with previous_day as (
    select urn, max(calendar_date) as previous_date
    from {{ ref('stg_calendar') }}
    where is_school_day and calendar_date < {{ run_date() }}
    group by urn
),

known_then as (
    select marks.urn, marks.upn, marks.mark_date, marks.session, marks.code,
           row_number() over (
               partition by marks.urn, marks.upn, marks.mark_date, marks.session
               order by marks.extracted_at desc, marks.source_file desc, marks.source_row desc
           ) as version_rank
    from {{ ref('stg_marks') }} as marks
    inner join previous_day on previous_day.urn = marks.urn
    where cast(marks.extracted_at as date) <= previous_day.previous_date
      and marks.mark_date <= previous_day.previous_date
      and marks.mark_date >= {{ academic_year_start(run_date()) }}
),

previous_share as (
    select urn, upn, mark_date, session, code from known_then where version_rank = 1
),

current_marks as (
    select urn, upn, mark_date, session, code
    from {{ ref('int_marks_current') }}
    where mark_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
)

select
    a.laestab,
    cur.urn,
    cur.upn,
    cur.mark_date as attendance_date,
    cur.session,
    cur.code as attendance_code,
    case when cur.mark_date = {{ run_date() }} then 'N' else 'Y' end as amended
from current_marks as cur
inner join {{ ref('stg_academies') }} as a on a.urn = cur.urn
left join previous_share as prev
    on prev.urn = cur.urn and prev.upn = cur.upn
   and prev.mark_date = cur.mark_date and prev.session = cur.session
where cur.mark_date = {{ run_date() }}
   or prev.code is null
   or prev.code <> cur.code
