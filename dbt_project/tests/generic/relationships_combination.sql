{# Fails with the rows whose key (several columns) has no row in `to`: a composite foreign key.
   `changed_on` and `since` as in `promises`: after an incremental build only the
   changed pupils' rows from `since` on can have lost their parent, when `since` is no later
   than where both models rewrite a pupil's rows from. #}
{% test relationships_combination(model, to, columns, changed_on=none, since=none) %}
{%- if changed_on %}
-- depends_on: {{ ref('int_build_plan') }}
-- depends_on: {{ ref('int_pupil_changes') }}
{%- endif %}
select child.*
from {{ model }} as child
{%- if changed_on %}
{{ written_this_run('child', changed_on, since) }}
{%- endif %}
where not exists (
    select 1 from {{ to }} as parent
    where {% for c in columns %}parent.{{ c }} = child.{{ c }}{% if not loop.last %} and {% endif %}{% endfor %}
)
{% endtest %}
