select urn, laestab, name as academy_name, phase, la_code, policy, source_format
from {{ source('warehouse', 'academies') }}
