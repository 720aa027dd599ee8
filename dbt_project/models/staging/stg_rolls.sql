-- The roll as known on the run date: each academy's latest full snapshot extracted by D.
-- Only those snapshot files are read (macros/rolls.sql chooses them by name), not the year's.
{%- set files = latest_roll_files() %}
with known as (
    select *
    from {% if files %}read_parquet({{ files }}){% else %}{{ source('warehouse', 'rolls') }}{% endif %}
    where cast(extracted_at as date) <= {{ run_date() }}
),

latest as (
    select urn, max(extracted_at) as extracted_at
    from known
    group by urn
)

select
    known.urn,
    known.upn,
    known.surname,
    known.forename,
    known.date_of_birth,
    known.gender,
    known.nc_year,
    known.reg_group,
    known.entry_date,
    known.leaving_date,
    known.fsm,
    known.sen,
    known.eal,
    known.ethnicity,
    known.home_la,
    known.extracted_at as roll_extracted_at
from known
inner join latest
    on known.urn = latest.urn and known.extracted_at = latest.extracted_at
