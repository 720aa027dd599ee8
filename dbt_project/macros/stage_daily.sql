{# Post-hook of fct_pupil_stage_daily (an incremental Python model, which cannot hold Jinja).
   delete+insert only replaces the keys the model returns, so a row whose pupil-day is no
   longer in int_pupil_daily (a later date built before an earlier one, a pupil gone from the
   roll) would linger. Inside the model's transaction, after the insert, those rows go: all of
   them after a full build, and after an incremental one those of the changed pupils from
   changed_from on and any after D (the rest are unchanged by the plan's contract). Not a
   pre-hook: a Python model writes its rows through another cursor, and a transaction begun
   before that would not see them. #}
{% macro stage_daily_drop_gone_rows() %}
  {% if is_incremental() %}
    delete from {{ this }} as kept
    where (
        (select mode from {{ ref('int_build_plan') }}) = 'full'
        or kept.calendar_date > (select run_date from {{ ref('int_build_plan') }})
        or exists (
            select 1 from {{ ref('int_pupil_changes') }} as changes
            where changes.urn = kept.urn
              and changes.upn = kept.upn
              and kept.calendar_date >= changes.changed_from
        )
    )
    and not exists (
        select 1 from {{ ref('int_pupil_daily') }} as daily
        where daily.urn = kept.urn
          and daily.upn = kept.upn
          and daily.calendar_date = kept.calendar_date
    )
  {% endif %}
{% endmacro %}
