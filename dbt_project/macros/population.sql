{# The population of every measure as of D (SPEC 5): the pupils on roll on D, each enrolment
   (academy, UPN) once, at an academy of the trust. mart_pupil_status has a row for each of
   them; int_breakdown_slices sums their weekdays and weeks. One rule, so the breakdowns' slices
   and the pupils' own rows can never disagree on who is counted. #}
{% macro pupils_on_roll() %}
    select rolls.*
    from {{ ref('stg_rolls') }} as rolls
    semi join {{ ref('stg_academies') }} as academies on academies.urn = rolls.urn
    where rolls.entry_date <= {{ run_date() }}
      and (rolls.leaving_date is null or rolls.leaving_date >= {{ run_date() }})
{% endmacro %}
