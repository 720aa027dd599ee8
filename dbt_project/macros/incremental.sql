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
  {{ return(['fct_pupil_day', 'int_pupil_week', 'int_pupil_daily', 'fct_pupil_stage_daily',
             'fct_stage_events']) }}
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

{# The earliest date an incremental build of int_pupil_daily reads a changed pupil's rows
   from, as a date literal: a pupil in the grid, its kept rows from the seed day (the school
   day before its changed_week_from, the earliest such day of any academy being taken); a
   pupil new to the grid, its day facts from its first re-ranked mark or the day after the
   previous run, whichever is earlier (it had no day facts up to the previous run date, or it
   would have been in the grid, so any it has now were written by this run).
   A constant, so that the scans of int_pupil_daily and fct_pupil_day filter before any join
   (DuckDB cannot push a join's per-pupil bound into a scan): the bound used to be the
   earliest changed_from, which is 1 September whenever any pupil is new to the grid (most
   days at trust scale), and then the daily run read the whole year (docs/benchmarks.md).
   The run date plus one day when no pupil changed. #}
{% macro changes_read_from() %}
  {%- if not execute %}{{ return(run_date()) }}{% endif %}
  {%- set found = run_query("""
      with changes as (select * from """ ~ ref('int_pupil_changes') ~ """),
      plan as (select previous_run_date from """ ~ ref('int_build_plan') ~ """),
      kept_from as (select min(changed_week_from) as first_date from changes where in_grid),
      seed_days as (
          select max(cal.calendar_date) as seed_date
          from """ ~ ref('stg_calendar') ~ """ as cal, kept_from
          where cal.is_school_day and cal.calendar_date < kept_from.first_date
          group by cal.urn
      ),
      new_facts as (
          select min(least(changes.marks_from, plan.previous_run_date + 1)) as first_date
          from changes, plan
          where not changes.in_grid
      )
      select cast(coalesce(
          least((select min(seed_date) from seed_days), (select first_date from kept_from),
                (select first_date from new_facts)),
          """ ~ run_date() ~ """ + 1) as varchar)
  """) %}
  {{- return("date '" ~ found.columns[0].values()[0] ~ "'") }}
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
