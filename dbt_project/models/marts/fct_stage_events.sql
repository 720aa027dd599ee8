-- Every entry into a stage (and every return to stage 0): the letters, meetings and referrals
-- the policy names, dated, so a school sees what is newly due (SPEC 6).
-- Incremental (macros/incremental.sql): fct_pupil_stage_daily rewrites each changed pupil's
-- rows from its changed_from on, so a run replaces that pupil's events from the same date
-- with the events of the rows it wrote (found by built_on, then the pupil's date), instead
-- of reading the year's 8 million stage rows again.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ clear_stale_rows('kept.event_date >= changes.changed_from') }}",
    post_hook="{{ log_build() }}",
) }}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
select
    stage.urn,
    stage.upn,
    stage.calendar_date as event_date,
    stage.event_kind,
    stage.stage,
    stage.stage_name,
    stage.action_due as action,
    stage.event_reason as reason,
    stage.policy
from {{ ref('fct_pupil_stage_daily') }} as stage
{{ changed_rows_only('stage', 'calendar_date', 'changed_from') }}
where stage.event_kind is not null
{%- if downstream_mode() == 'incremental' %}
  and stage.built_on = {{ run_date() }}
{%- endif %}
