{# Fails with every row where a boolean expression over the row's columns does not hold: the
   arithmetic identities of a fact (possible = attended + absence, ...) as promises. #}
{% test expression_holds(model, expression) %}
select *
from {{ model }}
where not coalesce(({{ expression }}), false)
{% endtest %}
