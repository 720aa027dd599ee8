{# Fails with the rows whose key (several columns) has no row in `to`: a composite foreign key.
   `changed_on` and `since` as in `promises`: after an incremental build only the
   changed pupils' rows from `since` on can have lost their parent, when `since` is no later
   than where both models rewrite a pupil's rows from. `built_on` instead, as in `promises`:
   the rows stamped with the run date, when the parent stamps its rows too and rewrites every
   such row's key in the same run, so the parent is looked up among its rows stamped D (M
   day 180: 0.13-0.18 -> 0.03 s; the whole parent was hashed for the lookup). #}
{% test relationships_combination(model, to, columns, changed_on=none, since=none,
                                  built_on=none) %}
{%- if changed_on or built_on %}
-- depends_on: {{ ref('int_build_plan') }}
{%- endif %}
{%- if changed_on %}
-- depends_on: {{ ref('int_pupil_changes') }}
{%- endif %}
select child.*
from {{ model }} as child
{%- if changed_on %}
{{ written_this_run('child', changed_on, since) }}
{%- endif %}
{%- set stamped = built_on and run_plan_mode() == 'incremental' %}
where not exists (
    select 1 from {{ to }} as parent
    where {% for c in columns %}parent.{{ c }} = child.{{ c }}{% if not loop.last %} and {% endif %}{% endfor %}
    {%- if stamped %}
      and parent."{{ built_on }}" = {{ run_date() }}
    {%- endif %}
)
{%- if stamped %}
  and child."{{ built_on }}" = {{ run_date() }}
{%- endif %}
{% endtest %}
