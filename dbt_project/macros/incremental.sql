{# Incremental models downstream of int_marks_current (see docs/marts.md, "Incremental").

   A daily run adds one school day and re-delivers a few earlier marks, so every model keyed
   by pupil and date keeps its rows and recomputes only, per pupil, the dates from the first
   one that can have changed (`int_pupil_changes`). That is exact only when each kept row was
   computed by the previous run, from the same code and configuration, so all of them move in
   lockstep: `int_build_plan` decides once per run, for every model, between
   - 'incremental': int_marks_current was incremental (same academic year, D moved forward,
     no delivery file changed), every model below logged a build for the previous run date,
     and the build fingerprint (dbt project + home configuration, written by `prepare`) is the
     one they logged; and
   - 'full': anything else (first run, an earlier date, a new year, a failed model, a new
     policy or calendar, a new model version, --full-refresh).
   A model whose table is missing builds in full on its own (dbt's incremental materialization
   creates it), which is also exact. #}

{# The models that keep rows between runs and log their builds. #}
{% macro downstream_models() -%}
  {{ return(['fct_pupil_session', 'fct_pupil_day', 'int_pupil_week', 'int_pupil_daily',
             'fct_pupil_stage_daily']) }}
{%- endmacro %}

{% macro build_log() -%}
  {{ this.schema }}.downstream_build_log
{%- endmacro %}

{# The fingerprint `attendance.dbt_runner.write_build_fingerprint` wrote, '' when none. #}
{% macro build_fingerprint() -%}
  (select coalesce(max(content), '')
   from read_text('{{ env_var("ATTENDANCE_HOME") }}/warehouse/build_fingerprint.tx[t]'))
{%- endmacro %}

{# 'full' or 'incremental' for the model being built now: its table must exist, and the run's
   plan must be incremental. #}
{% macro downstream_mode() %}
  {% if not execute or this is none or not is_incremental() %}  {# this: none in unit tests #}
    {{ return('full') }}
  {% endif %}
  {% set found = run_query("select mode from " ~ ref('int_build_plan')) %}
  {{ return(found.columns[0].values()[0] if found.rows else 'full') }}
{% endmacro %}

{# In an incremental build, keep only the changed pupils' rows of `alias` whose `column` is on
   or after their `bound` (a column of int_pupil_changes); nothing in a full one. The
   pre-hook's `clear_stale_rows` removes exactly the rows this lets through. #}
{% macro changed_rows_only(alias, column, bound) %}
  {%- if downstream_mode() == 'incremental' %}
semi join {{ ref('int_pupil_changes') }} as changes
    on changes.urn = {{ alias }}.urn
   and changes.upn = {{ alias }}.upn
   and {{ alias }}.{{ column }} >= changes.{{ bound }}
  {%- endif %}
{% endmacro %}

{# Pre-hook: remove the rows this run recomputes (all of them in a full build over an existing
   table). `using` names the changes relation as `changes`; `where` picks the stale rows of
   {{ this }} (aliased `kept`). Runs inside the model's transaction, so a failed build leaves
   the previous rows in place. #}
{% macro clear_stale_rows(where) %}
  {% if execute and this is not none and is_incremental() %}
    {% if downstream_mode() == 'full' %}
      delete from {{ this }}
    {% else %}
      delete from {{ this }} as kept
      using {{ ref('int_pupil_changes') }} as changes
      where changes.urn = kept.urn and changes.upn = kept.upn and ({{ where }})
    {% endif %}
  {% else %}
    select 1
  {% endif %}
{% endmacro %}

{# Post-hook: this model now holds the rows for the run date, under this fingerprint. #}
{% macro log_build() %}
  create table if not exists {{ build_log() }} (
      model varchar, run_date date, fingerprint varchar);
  delete from {{ build_log() }} where model = '{{ this.name }}';
  insert into {{ build_log() }}
  select '{{ this.name }}', {{ run_date() }}, {{ build_fingerprint() }};
{% endmacro %}

{# For data tests: after an incremental build, keep only the rows of `alias` this run wrote,
   the changed pupils' rows whose `column` is on or after their `bound` (the int_pupil_changes
   column the model recomputes from); nothing is filtered after a full build. A rule on a row,
   or on rows sharing a pupil and date (a key), can only newly fail on those rows: the rows
   kept were checked by the run that wrote them, under the same fingerprint. The test must
   declare `-- depends_on:` int_build_plan and int_pupil_changes. #}
{% macro written_this_run(alias, column, bound) %}
  {%- if run_plan_mode() == 'incremental' %}
semi join {{ ref('int_pupil_changes') }} as changes
    on changes.urn = {{ alias }}.urn
   and changes.upn = {{ alias }}.upn
   and {{ alias }}.{{ column }} >= changes.{{ bound }}
  {%- endif %}
{% endmacro %}

{# The run's plan ('full' or 'incremental', int_build_plan) for a data test; 'full' while
   parsing. The test must declare `-- depends_on:` int_build_plan. #}
{% macro run_plan_mode() %}
  {%- if not execute %}{{ return('full') }}{% endif %}
  {{ return(run_query("select mode from " ~ ref('int_build_plan')).columns[0].values()[0]) }}
{% endmacro %}
