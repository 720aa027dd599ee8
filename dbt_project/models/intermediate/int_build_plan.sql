-- How the models downstream of int_marks_current build for this run: 'incremental' (keep
-- their rows, recompute what int_pupil_changes lists) or 'full'. Decided once per run, here,
-- so that every model takes the same decision (macros/incremental.sql has the rule).
-- depends_on: {{ ref('int_marks_current') }}
{%- set logged = none %}
{%- if execute %}
  {%- set logged = adapter.get_relation(this.database, this.schema, 'downstream_build_log') %}
{%- endif %}
with build as (
    select run_date, previous_run_date, mode
    from {{ this.schema }}.int_marks_current_build
),

in_step as (
    -- how many of the downstream models logged a build for the previous run date, under
    -- today's fingerprint
    {%- if logged is none %}
    select 0 as models
    {%- else %}
    select count(distinct log.model) as models
    from {{ logged }} as log, build
    where log.run_date = build.previous_run_date
      and log.fingerprint = {{ build_fingerprint() }}
      and log.model in ('{{ downstream_models() | join("', '") }}')
    {%- endif %}
)

select
    {{ run_date() }} as run_date,
    case when plan_mode = 'incremental' then build.previous_run_date end as previous_run_date,
    plan_mode as mode
from build, in_step,
    lateral (
        select case
            when build.mode = 'incremental'
             and build.run_date = {{ run_date() }}
             and build.previous_run_date is not null
             and {{ build_fingerprint() }} <> ''
             and in_step.models = {{ downstream_models() | length }}
            then 'incremental' else 'full'
        end as plan_mode
    )
