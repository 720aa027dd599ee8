{# Fails with the rows whose key (several columns) has no row in `to`: a composite foreign key. #}
{% test relationships_combination(model, to, columns) %}
select child.*
from {{ model }} as child
where not exists (
    select 1 from {{ to }} as parent
    where {% for c in columns %}parent.{{ c }} = child.{{ c }}{% if not loop.last %} and {% endif %}{% endfor %}
)
{% endtest %}
