-- Each code with its category's meaning for the statistics (one row per code per code set).
select
    codes.code,
    codes.code_set,
    codes.valid_from,
    codes.valid_to,
    codes.category,
    codes.meaning,
    case when cats.is_possible = 'Y' then 1 else 0 end as is_possible,
    case when cats.is_attended = 'Y' then 1 else 0 end as is_attended,
    case when cats.is_absence = 'Y' then 1 else 0 end as is_absence,
    case when cats.is_authorised = 'Y' then 1 else 0 end as is_authorised,
    case when cats.is_unauthorised = 'Y' then 1 else 0 end as is_unauthorised,
    case when codes.category = 'present' then 1 else 0 end as is_present,
    case when codes.is_late = 'Y' then 1 else 0 end as is_late,
    case when codes.is_unexplained = 'Y' then 1 else 0 end as is_unexplained
from {{ ref('dfe_codes') }} as codes
inner join {{ ref('dfe_code_categories') }} as cats
    on codes.category = cats.category
