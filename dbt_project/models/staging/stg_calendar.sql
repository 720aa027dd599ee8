select
    urn,
    cast(calendar_date as date) as calendar_date,
    cast(academic_year as integer) as academic_year,
    cast(week_start as date) as week_start,
    is_school_day,
    closure_reason,
    cast(school_day_index as integer) as school_day_index,
    cast(school_week_index as integer) as school_week_index
from {{ source('warehouse', 'calendar') }}
