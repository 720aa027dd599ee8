{# Several small counters summed by a single aggregate (int_pupil_daily's windows, the
   sums of fct_pupil_day and int_pupil_week, int_breakdown_slices' weekday sums).

   DuckDB evaluates each aggregate on its own: five running sums over the year's 8 million
   pupil-days cost five passes over the sorted rows (about a second each on M, on top of the
   sort), and int_pupil_week's 34 sums were nearly all of its time. Packed side by side in one
   integer, PACKED_BITS bits each, the counters are added up together and taken apart
   afterwards (`unpacked`). That is exact while every counter is a non-negative whole number
   whose sum stays below 2^PACKED_BITS = 4,096; what is packed here are one pupil's sessions
   or days within one academic year at most (2 x 366 = 732), and at most five counters fit
   (60 of 63 bits). A missing value counts as 0 (a plain sum skips it): the counters packed
   here are never missing. #}

{% macro packed_bits() -%} 12 {%- endmacro %}

{# One integer holding each expression in its own PACKED_BITS-bit field, the first lowest. #}
{% macro packed(expressions) -%}
  {%- if expressions | length * (packed_bits() | int) > 63 -%}
    {{ exceptions.raise_compiler_error("packed(): at most five counters fit in a bigint") }}
  {%- endif -%}
  ({% for e in expressions %}(cast(coalesce({{ e }}, 0) as bigint) << {{ loop.index0 * (packed_bits() | int) }})
   {%- if not loop.last %} + {% endif %}{% endfor %})
{%- endmacro %}

{# The field `index` (0 = the first expression given to `packed`) of a packed sum. #}
{% macro unpacked(total, index) -%}
  cast(({{ total }} >> {{ index * (packed_bits() | int) }}) & {{ 2 ** (packed_bits() | int) - 1 }} as integer)
{%- endmacro %}
