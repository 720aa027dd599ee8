{# How a pupil's school day counts in the consecutive-unexplained-days run (SPEC 5.2), from
   its day facts (fct_pupil_day; null when the pupil has no mark that day):
   'U' every possible session N/O: the run grows; 'S' marks but no possible session (Y4, #):
   skipped; 'E' anything else, or no mark at all: the run ends. #}
{% macro unexplained_class(day) -%}
  case
      when coalesce({{ day }}.possible_sessions, 0) > 0
           and {{ day }}.unexplained_sessions = {{ day }}.possible_sessions then 'U'
      when coalesce({{ day }}.marked_sessions, 0) > 0
           and coalesce({{ day }}.possible_sessions, 0) = 0 then 'S'
      else 'E'
  end
{%- endmacro %}
