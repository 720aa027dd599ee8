{# stg_mark_versions: every row of every marks parquet file, in the warehouse's own storage.

   Ingestion writes one parquet file per delivery, about 10,000 files in a year at trust
   scale. A query that needs old versions (supersession in a full build; the DfE share's
   marks "as known then") pays for opening every file, seconds each time, however few rows it
   keeps; the same rows in a DuckDB table cost a fraction of that, and its zone maps skip
   what a filter excludes. The table does not depend on the run date (stg_marks applies D), so
   it only follows the files: a build appends the rows of the files not yet read, recorded in
   `stg_mark_versions_files` with their size and modification time, and reads every file
   again when a recorded one was replaced or removed, on --full-refresh, or with no record.
   Ingestion never runs during dbt (the pipeline's steps are in sequence), so the files are
   the same when the model reads them and when the post-hook records them. #}

{% macro mark_versions_files() -%}
  {{ this.schema }}.stg_mark_versions_files
{%- endmacro %}

{% macro mark_versions_plan() %}
  {% if not execute or flags.FULL_REFRESH or not is_incremental() %}
    {{ return({'mode': 'full'}) }}
  {% endif %}
  {% set files = adapter.get_relation(this.database, this.schema, 'stg_mark_versions_files') %}
  {% if files is none %}
    {{ return({'mode': 'full'}) }}
  {% endif %}
  {{ return(new_files_plan(mark_versions_files())) }}
{% endmacro %}

{# Pre-hook: reading every file again starts from an empty table. #}
{% macro mark_versions_clear(plan) %}
  {% if plan.mode == 'full' and execute and is_incremental() %}
    delete from {{ this }}
  {% else %}
    select 1
  {% endif %}
{% endmacro %}

{# Post-hook: the files whose rows the table now holds. #}
{% macro mark_versions_record(plan) %}
  {% if plan.mode == 'full' %}
    create or replace table {{ mark_versions_files() }} as
    select filename, size, last_modified from {{ marks_files() }};
  {% elif plan.files %}
    insert into {{ mark_versions_files() }}
    select filename, size, last_modified from {{ marks_files() }}
    where filename in (select unnest({{ plan.names }}));
  {% else %}
    select 1
  {% endif %}
{% endmacro %}
