-- Supersession (SPEC 4): for each academy, pupil, date and session the mark from the latest
-- extraction known on D wins; ties go to the later file name, then the later row.
with ranked as (
    select
        *,
        row_number() over (
            partition by urn, upn, mark_date, session
            order by extracted_at desc, source_file desc, source_row desc
        ) as version_rank
    from {{ ref('stg_marks') }}
    where mark_date >= {{ academic_year_start(run_date()) }} - interval 1 year
)

select
    urn,
    upn,
    mark_date,
    session,
    code,
    minutes_late,
    arrival_time,
    source_file,
    source_row,
    delivery,
    extracted_at
from ranked
where version_rank = 1
