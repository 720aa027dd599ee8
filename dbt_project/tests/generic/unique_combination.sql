{# Fails with the duplicated keys: the grain of a fact is a promise (one row per key).
   `changed_on`, for the incremental models (macros/incremental.sql): the key's date column.
   After an incremental build only rows dated on or after the earliest date this run
   recomputed can be new, and a duplicate needs at least one new row with the same key (and so
   the same date), so only those dates are checked: the kept rows were checked by the run that
   wrote them. A full build checks every row. #}
{% test unique_combination(model, columns, changed_on=none) %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }}
{%- if changed_on %}
where {{ changed_on }} >= (
    select case
        when plan.mode = 'incremental' then coalesce(
            (select min(least(coalesce(changes.marks_from, changes.changed_from),
                              changes.changed_from))
             from {{ ref('int_pupil_changes') }} as changes),
            date '9999-12-31')
        else date '1900-01-01'
    end
    from {{ ref('int_build_plan') }} as plan
)
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
