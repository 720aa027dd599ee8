{# Incremental supersession for int_marks_current (see docs/marts.md, "Incremental").

   Ingestion writes one parquet file per delivery and only ever adds or replaces files by
   rename; every row of a file carries the delivery's one extraction time. The table built for
   D0 holds, for every key, the winning version among the files that were wholly known on D0
   (every row extracted and dated on or before D0): those files are recorded, with their size
   and modification time, in `int_marks_current_files`, and D0 in `int_marks_current_build`.

   For a later D in the same academic year, with every recorded file still there unchanged,
   the winner of a key as of D is the better of its winner as of D0 and the versions in the
   files not recorded (the new deliveries, or files read before their time), because every
   version in a recorded file was already considered on D0 and still qualifies on D. So only
   the new files are read and only the keys they touch are re-ranked. Anything else (an
   earlier D, a new academic year, a file changed or gone, --full-refresh, no record) rebuilds
   from every version. #}

{% macro marks_root() -%}
  {{ env_var('ATTENDANCE_HOME') }}/warehouse/marks/
{%- endmacro %}

{% macro marks_glob() -%}
  {{ marks_root() }}*/*.parquet
{%- endmacro %}

{# A marks file's name as the records keep it: relative to the marks folder
   (`<URN>/<delivery>.parquet`), so that a home restored or mounted at another path (a
   container's volume, a new disk) still finds its recorded files and stays incremental,
   instead of reading every file again. #}
{% macro marks_relative(column) -%}
  case when starts_with({{ column }}, '{{ marks_root() }}')
       then substr({{ column }}, {{ marks_root() | length + 1 }}) else {{ column }} end
{%- endmacro %}

{% macro marks_current_files() -%}
  {{ this.schema }}.int_marks_current_files
{%- endmacro %}

{% macro marks_current_build() -%}
  {{ this.schema }}.int_marks_current_build
{%- endmacro %}

{# {'mode': 'full'} or {'mode': 'incremental', 'files': [new files' paths], 'names': [their
   names as recorded (marks_relative)]} #}
{% macro marks_current_plan() %}
  {% if not execute or flags.FULL_REFRESH or not is_incremental() %}
    {{ return({'mode': 'full'}) }}
  {% endif %}
  {% set current = adapter.get_relation(this.database, this.schema, this.identifier) %}
  {% set files = adapter.get_relation(this.database, this.schema, 'int_marks_current_files') %}
  {% set build = adapter.get_relation(this.database, this.schema, 'int_marks_current_build') %}
  {% if current is none or files is none or build is none %}
    {{ return({'mode': 'full'}) }}
  {% endif %}
  {% set check %}
    select count(*) from {{ marks_current_build() }}
    where run_date <= {{ run_date() }}
      and year_start = {{ academic_year_start(run_date()) }}
  {% endset %}
  {% if run_query(check).rows[0][0] != 1 %}
    {{ return({'mode': 'full'}) }}
  {% endif %}
  {{ return(new_files_plan(marks_current_files())) }}
{% endmacro %}

{# The marks files present when this build began (filename, size, last_modified), listed
   once per build by stg_marks_files; a model reading it declares
   `-- depends_on: {{ ref('stg_marks_files') }}`. #}
{% macro marks_files() -%}
  {{ ref('stg_marks_files') }}
{%- endmacro %}

{# Which marks files are new since the files recorded in `files_table` (filename, size,
   last_modified): {'mode': 'incremental', 'files': [the new ones]} when every recorded file is
   still there unchanged, else {'mode': 'full'} (a file was replaced or removed). #}
{% macro new_files_plan(files_table) %}
  {% set changed %}
    select count(*) from {{ files_table }} as f
    left join {{ marks_files() }} as p on p.filename = f.filename
    where p.filename is null or p.size <> f.size or p.last_modified <> f.last_modified
  {% endset %}
  {% if run_query(changed).rows[0][0] != 0 %}
    {{ return({'mode': 'full'}) }}
  {% endif %}
  {% set new_files %}
    select filename from {{ marks_files() }}
    where filename not in (select filename from {{ files_table }})
    order by filename
  {% endset %}
  {% set names = run_query(new_files).columns[0].values() | list %}
  {% set files = [] %}
  {% for name in names %}
    {% do files.append(name if name.startswith('/') else marks_root() ~ name) %}
  {% endfor %}
  {{ return({'mode': 'incremental', 'files': files, 'names': names}) }}
{% endmacro %}

{# Every column of int_marks_current, in the table's order: the full build's months, the new
   versions and the kept winners of an incremental one. #}
{% macro marks_current_columns() %}
  {{ return(['urn', 'upn', 'mark_date', 'session', 'code', 'minutes_late', 'arrival_time',
             'source_file', 'source_row', 'delivery', 'extracted_at']) }}
{% endmacro %}

{# Post-hook of a full build: every key's winner among its versions known on D, one month
   of D's kept months per statement, each written in date order.

   One statement per month bounds the memory: a key's versions share its date, so each
   month is ranked alone, and DuckDB frees a statement's memory before the next. It ranks by
   one number (`latest_version_number`), which DuckDB does as an aggregate instead of
   sorting the month's versions; in one statement for every month, those aggregates were
   held together and spilled (M: 35 s at the 3 GB limit, against 10 s a month at a time;
   the former single statement, ranking by the columns, 15-16 s).
   Stored in date order (see int_marks_current).

   Only the months that have versions get a statement (one scan of the versions' dates): a
   full build's kept months include months without marks (the year before a trust's first,
   every August). This also kept DuckDB 2.0.0's bug (an `insert ... order by` that inserts
   nothing hid the transaction's later inserts) from emptying the table; 2.0.1 fixed it and
   is the lowest version the project allows (tests/test_duckdb_inserts.py). #}
{% macro marks_current_fill(plan) %}
  {% if plan.mode == 'full' and execute %}
    {% set columns = marks_current_columns() %}
    {% set months_with_versions %}
      select distinct strftime(date_trunc('month', mark_date), '%Y-%m-%d')
      from {{ ref('stg_marks') }}
    {% endset %}
    {% set present = run_query(months_with_versions).columns[0].values() | list %}
    {% for month in kept_months() if month in present %}
      {% set in_month %}
        mark_date >= date '{{ month }}' and mark_date < date '{{ month }}' + interval 1 month
      {% endset %}
      insert into {{ this }} ({{ columns | join(', ') }})
      with files as (
          {{ version_files('(select source_file from ' ~ ref('stg_marks') ~ ' where ' ~ in_month ~ ')') }}
      ),
      ranked as (
          select
              versions.*,
              row_number() over (
                  partition by versions.urn, versions.upn, versions.mark_date, versions.session
                  order by {{ latest_version_number('versions', 'files') }} desc
              ) as version_rank
          from {{ ref('stg_marks') }} as versions
          inner join files on files.source_file = versions.source_file
          where versions.{{ in_month | trim }}
      )
      select {{ columns | join(', ') }}
      from ranked
      where version_rank = 1
      order by mark_date;
    {% endfor %}
  {% else %}
    select 1
  {% endif %}
{% endmacro %}

{# Pre-hook: a full build over the existing table starts from an empty one (the table is kept
   rather than replaced so that the incremental path can delete and insert a few keys). #}
{% macro marks_current_clear(plan) %}
  {% if plan.mode == 'full' and execute and is_incremental() %}
    delete from {{ this }}
  {% else %}
    select 1
  {% endif %}
{% endmacro %}

{# Post-hook: record D and the files wholly known on D (all of them after a full build; the
   recorded ones plus the new ones that qualify after an incremental one), the pupils whose
   winners were re-ranked with the earliest date re-ranked (`int_marks_current_touched`, what
   the models downstream recompute from: int_pupil_changes), and how this build was made. #}
{% macro marks_current_record(plan) %}
  {% set files = [] if plan.mode == 'full' else plan.files %}
  {% if plan.mode == 'full' or files %}
    {% if plan.mode == 'full' %}
      create or replace table {{ marks_current_files() }} (
          filename varchar, size bigint, last_modified timestamp with time zone);
    {% endif %}
    insert into {{ marks_current_files() }}
    select blob.filename, blob.size, blob.last_modified
    from {{ marks_files() }} as blob
    inner join (
        select {{ marks_relative('filename') }} as filename
        from read_parquet({{ "'" ~ marks_glob() ~ "'" if plan.mode == 'full' else files }},
                          filename = true)
        group by all
        having max(cast(extracted_at as date)) <= {{ run_date() }}
           and max(mark_date) <= {{ run_date() }}
    ) as known on known.filename = blob.filename;
  {% endif %}
  create or replace table {{ this.schema }}.int_marks_current_touched as
  {% if plan.mode == 'incremental' and files %}
    select urn, upn, min(mark_date) as first_date
    from read_parquet({{ files }})
    where cast(extracted_at as date) <= {{ run_date() }}
      and mark_date <= {{ run_date() }}
      and mark_date >= {{ academic_year_start(run_date()) }} - interval 1 year
    group by urn, upn;
  {% else %}
    select cast(null as varchar) as urn, cast(null as varchar) as upn,
           cast(null as date) as first_date
    where false;
  {% endif %}
  create or replace table {{ marks_current_build() }} as
  select {{ run_date() }} as run_date,
         {{ academic_year_start(run_date()) }} as year_start,
         {% if plan.mode == 'incremental' -%}
           (select max(run_date) from {{ marks_current_build() }})
         {%- else -%} cast(null as date) {%- endif %} as previous_run_date,
         '{{ plan.mode }}' as mode;
{% endmacro %}

{# Supersession's order (SPEC 4): the latest extraction first, ties to the later file name,
   then the later row. The one statement of it, for every ranking of a key's versions: as
   columns (`version_order`), as an `order by` (`latest_version_first`), as the key whose
   maximum `arg_max` picks (`latest_version_key`), and as one number (`latest_version_number`,
   below; tests/test_supersession_order.py holds them to the same winners). #}
{% macro version_order(alias=none) -%}
  {%- set p = alias ~ '.' if alias else '' -%}
  {{ return([p ~ 'extracted_at', p ~ 'source_file', p ~ 'source_row']) }}
{%- endmacro %}

{% macro latest_version_first(alias=none) -%}
  {{ version_order(alias) | join(' desc, ') }} desc
{%- endmacro %}

{% macro latest_version_key(alias=none) -%}
  ({{ version_order(alias) | join(', ') }})
{%- endmacro %}

{# The same order as one number per version, greater for a later version, for the full
   build's ranking of the year's versions. DuckDB turns "the first row of each key by one
   value" into an aggregate (its top-N window elimination), but sorts every version by
   their keys for an order of several columns (`latest_version_first`), and compares an
   `arg_max` key of several (`latest_version_key`) field by field: ranking M's 20.7 million
   versions took 12.7 s by the columns, 10.0 s by the tuple and 8.1 s by this number, the
   same winners.

   The number is the extraction time in microseconds, then the file's place in name order
   among the files being ranked, then the row, each in its own bits of a 128-bit integer
   (files and rows under 2^31 and 2^32 each: a file has at most a few hundred thousand
   rows). A file's place comes from `version_files` over the same versions, joined on the
   file name. #}
{% macro version_files(relation) -%}
  select source_file, row_number() over (order by source_file) as file_place
  from (select distinct source_file from {{ relation }})
{%- endmacro %}

{% macro latest_version_number(alias, files_alias) -%}
  (epoch_us({{ alias }}.extracted_at)::hugeint << 64)
  + ({{ files_alias }}.file_place::hugeint << 32) + {{ alias }}.source_row
{%- endmacro %}
