{# Post-hook of fct_pupil_stage_daily (an incremental Python model, which cannot hold Jinja).
   delete+insert only replaces the keys the model returns, so a row whose pupil-day is no
   longer in int_pupil_daily (a later date built before an earlier one, a pupil gone from the
   roll) would linger. Inside the model's transaction, after the insert, those rows go: all of
   them after a full build, and after an incremental one those of the changed pupils from
   changed_from on and any after D (the rest are unchanged by the plan's contract).
   Without a table yet (the first build) there is nothing to drop: no statement. Not a
   pre-hook: a Python model writes its rows through another cursor, and a transaction begun
   before that would not see them. #}
{% macro stage_daily_drop_gone_rows() %}
  {% if is_incremental() and downstream_mode() == 'full' %}
    delete from {{ this }} as kept
    where not exists (
        select 1 from {{ ref('int_pupil_daily') }} as daily
        where daily.urn = kept.urn
          and daily.upn = kept.upn
          and daily.calendar_date = kept.calendar_date
    )
  {% elif is_incremental() %}
    {#- The candidates and the pupil-days they are looked up in are both cut to the changed
        pupils' dates first (int_pupil_daily holds no day after D, so a kept row after D is
        gone whoever it belongs to): looked up in the whole of int_pupil_daily, the planner
        hashed the year's 8 million pupil-days for a few thousand candidates (M: 1.2 s ->
        0.25 s). The constant bound lets both scans skip the older row groups.
        Only pupils in the grid before this run can have a kept row gone: a new pupil's rows
        were all written now, from int_pupil_daily (and from 1 September, so as the bound they
        made the scan read the year). The changed pupils' pupil-days from changed_from on are
        all rows this run's int_pupil_daily wrote, found by their built_on. #}
    delete from {{ this }} as kept
    using (
        with bound as (
            select min(changed_from) as first_date
            from {{ ref('int_pupil_changes') }}
            where in_grid
        ),
        candidates as (
            select s.urn, s.upn, s.calendar_date
            from {{ this }} as s
            semi join {{ ref('int_pupil_changes') }} as changes
                on changes.urn = s.urn and changes.upn = s.upn
               and s.calendar_date >= changes.changed_from
               and changes.in_grid
            where s.calendar_date >= (select first_date from bound)
            union
            select s.urn, s.upn, s.calendar_date
            from {{ this }} as s
            where s.calendar_date > {{ run_date() }}
        ),
        present as (
            select daily.urn, daily.upn, daily.calendar_date
            from {{ ref('int_pupil_daily') }} as daily
            where daily.built_on = {{ run_date() }}
        )
        select candidates.urn, candidates.upn, candidates.calendar_date
        from candidates
        anti join present
            on present.urn = candidates.urn and present.upn = candidates.upn
           and present.calendar_date = candidates.calendar_date
    ) as gone
    where gone.urn = kept.urn and gone.upn = kept.upn and gone.calendar_date = kept.calendar_date
  {% endif %}
{% endmacro %}

{# Post-hook of fct_pupil_stage_daily: drop the tables dbt-duckdb's incremental
   materialization leaves behind for a Python model. It builds the run's rows into
   `<model>__dbt_tmp<timestamp>` and, taking that for a temporary table (as it is for a SQL
   model on a local DuckDB), never drops it: without this every daily run left one in the
   warehouse, each holding the rows that run wrote. Inside the model's transaction, after the
   delete+insert has read it; any left by earlier runs go too. #}
{% macro drop_python_temp_tables() %}
  {%- set found = run_query(
      "select table_name from information_schema.tables"
      ~ " where table_catalog = '" ~ this.database ~ "' and table_schema = '" ~ this.schema ~ "'"
      ~ " and starts_with(table_name, '" ~ this.identifier ~ "__dbt_tmp')"
      ~ " order by table_name") if execute else none %}
  {%- for name in (found.columns[0].values() if found else []) %}
    drop table if exists {{ this.database }}.{{ this.schema }}."{{ name }}";
  {%- endfor %}
  select 1
{% endmacro %}
