{# The run date D, as a date literal. #}
{% macro run_date() -%}
  cast('{{ var("run_date") }}' as date)
{%- endmacro %}

{# 1 September of the academic year holding the date (years run 1 Sep - 31 Aug). #}
{% macro academic_year_start(d) -%}
  make_date(cast(year({{ d }}) as integer) - case when month({{ d }}) < 9 then 1 else 0 end, 9, 1)
{%- endmacro %}

{# The first day of every month from 1 September of the previous academic year (the oldest
   marks kept) to D's month, as "YYYY-MM-DD": what a full build ranks, and checks keys, month
   by month (int_marks_current, tests/generic/promises.sql). Worked out from D alone, so a
   unit test or a compile reads no table. #}
{% macro kept_months() %}
  {% set d = modules.datetime.date.fromisoformat(var('run_date')) %}
  {% set first_year = d.year - (1 if d.month < 9 else 0) - 1 %}
  {% set months = [] %}
  {% for i in range(24) %}
    {% set year = first_year + (8 + i) // 12 %}
    {% set month = (8 + i) % 12 + 1 %}
    {% if (year, month) <= (d.year, d.month) %}
      {% do months.append('%04d-%02d-01' % (year, month)) %}
    {% endif %}
  {% endfor %}
  {{ return(months) }}
{% endmacro %}

{# Conditions on a date column that cut a table into D's kept months (`kept_months`) and a
   last part for every other row (no date, or outside them): where a date is in a group's key,
   no group crosses a month, so a full build aggregates or checks such a table one month at
   a time, with one month's hash table in memory at a time (fct_pupil_day; the key test of
   `promises`). #}
{% macro month_parts(column) %}
  {% set months = kept_months() %}
  {% set parts = [] %}
  {% for month in months %}
    {% do parts.append(column ~ " >= date '" ~ month ~ "' and " ~ column ~ " < date '" ~ month
                       ~ "' + interval 1 month") %}
  {% endfor %}
  {% do parts.append(column ~ " is null or " ~ column ~ " < date '" ~ months[0] ~ "' or "
                     ~ column ~ " >= date '" ~ months[-1] ~ "' + interval 1 month") %}
  {{ return(parts) }}
{% endmacro %}

{# A date column's days in the week of 1 September before it, or in D's week after D: the
   days a sum over the year's whole weeks (int_pupil_week's) holds beyond the year to D, which
   a model summing those weeks takes off again (int_breakdown_slices, mart_pupil_status's
   lates). Constant bounds, so a scan skips the row groups outside them. #}
{% macro outside_year_in_its_weeks(column) -%}
  ({{ column }} between {{ academic_year_start(run_date()) }} - 6
                    and {{ academic_year_start(run_date()) }} - 1
   or {{ column }} between {{ run_date() }} + 1 and {{ run_date() }} + 6)
{%- endmacro %}
