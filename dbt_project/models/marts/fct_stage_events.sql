-- Every entry into a stage (and every return to stage 0): the letters, meetings and referrals
-- the policy names, dated, so a school sees what is newly due (SPEC 6).
select
    urn,
    upn,
    calendar_date as event_date,
    event_kind,
    stage,
    stage_name,
    action_due as action,
    event_reason as reason,
    policy
from {{ ref('fct_pupil_stage_daily') }}
where event_kind is not null
