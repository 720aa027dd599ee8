-- Every mark version known on the run date: extracted on or before D, dated on or before D.
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
from {{ ref('stg_mark_versions') }}
where cast(extracted_at as date) <= {{ run_date() }}
  and mark_date <= {{ run_date() }}
