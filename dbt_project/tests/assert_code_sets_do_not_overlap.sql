{#
  What: each code has at most one meaning on any date (the code sets' date ranges for one code
  never overlap), so a mark joins to exactly one row of the seed.
  How to resolve: fix valid_from / valid_to in seeds/dfe_codes.csv.
#}
select a.code, a.code_set, b.code_set as other_code_set
from {{ ref('stg_dfe_codes') }} as a
inner join {{ ref('stg_dfe_codes') }} as b
    on a.code = b.code and a.code_set < b.code_set
   and a.valid_from <= b.valid_to and b.valid_from <= a.valid_to
