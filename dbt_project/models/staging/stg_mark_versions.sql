-- Every version of every accepted mark, as the marks parquet files hold them, copied into the
-- warehouse file by file (macros/mark_versions.sql): stg_marks reads these rows as known on D.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ mark_versions_clear(mark_versions_plan()) }}",
    post_hook="{{ mark_versions_record(mark_versions_plan()) }}",
) }}
-- depends_on: {{ ref('stg_marks_files') }}
{%- set plan = mark_versions_plan() %}
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
{%- if plan.mode == 'full' %}
from {{ source('warehouse', 'marks') }}
{%- elif plan.files %}
from read_parquet({{ plan.files }})
{%- else %}
from {{ this }}
where false
{%- endif %}
