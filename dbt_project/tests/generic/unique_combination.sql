{# Fails with the duplicated keys: the grain of a fact is a promise (one row per key).
   `changed_on` and `since`, for the incremental models (macros/incremental.sql): the key's
   date column, and the int_pupil_changes column the model rewrites a pupil's rows from.
   After an incremental build a duplicate needs at least one row this run wrote, and both
   rows share the pupil and date, so only the changed pupils' rows from their own `since` on
   are checked (`written_this_run`). A full build checks every row. #}
{% test unique_combination(model, columns, changed_on=none, since=none) %}
{%- if changed_on %}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
{%- endif %}
select {{ columns | join(', ') }}, count(*) as n
from {{ model }} as kept
{%- if changed_on %}
{{ written_this_run('kept', changed_on, since) }}
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
