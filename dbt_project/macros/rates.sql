{# One rule, one macro: every threshold on a rate is decided on exact integers.
   numer/denom >= pct/100  <=>  numer*100 >= denom*pct, and only with a possible session. #}
{% macro at_or_above_pct(numer, denom, pct) -%}
  (({{ denom }}) > 0 and ({{ numer }}) * 100 >= ({{ denom }}) * {{ pct }})
{%- endmacro %}

{# A percentage rounded half-up to 1 decimal place, computed on integers so that the figure
   a school sees is the same on every engine. Null when there is no possible session. #}
{% macro pct_1dp(numer, denom) -%}
  case when ({{ denom }}) > 0 then
    cast(((2000 * cast({{ numer }} as bigint) + ({{ denom }})) // (2 * ({{ denom }}))) / 10.0
         as decimal(5, 1))
  end
{%- endmacro %}

{# Y/N flag text used in every export. #}
{% macro yn(condition) -%}
  case when {{ condition }} then 'Y' else 'N' end
{%- endmacro %}
