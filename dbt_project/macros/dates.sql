{# The run date D, as a date literal. #}
{% macro run_date() -%}
  cast('{{ var("run_date") }}' as date)
{%- endmacro %}

{# 1 September of the academic year holding the date (years run 1 Sep - 31 Aug). #}
{% macro academic_year_start(d) -%}
  make_date(cast(year({{ d }}) as integer) - case when month({{ d }}) < 9 then 1 else 0 end, 9, 1)
{%- endmacro %}
