{# The roll snapshot files stg_rolls reads: each academy's latest non-empty snapshot extracted
   on or before D.

   Ingestion writes one parquet file per snapshot, rolls/<urn>/pupils_<extracted>.parquet,
   every row carrying the extraction time the name gives (ingestion/files.py). Reading every
   snapshot of a year to keep the latest (about 2,200 files at trust scale, every column of
   each) cost seconds a day for 50 files' worth of rows, so the files are chosen by name here
   and only those are read. A snapshot whose every record was rejected is an empty file, and
   the roll is then the academy's previous snapshot (as it always was: the latest extraction
   among the rows known), so the choice steps back past empty files, reading their row counts
   from the parquet footers, a round for each step (usually one round).

   Returns a list of paths, empty when no academy has a snapshot yet. #}

{% macro rolls_glob() -%}
  {{ env_var('ATTENDANCE_HOME') }}/warehouse/rolls/*/*.parquet
{%- endmacro %}

{% macro latest_roll_files() %}
  {% if not execute %}
    {{ return([]) }}
  {% endif %}
  {# Each academy's latest snapshot first, alone (50 rows at trust scale): the query's rows
     come back through agate, and all the year's candidates (about 1,800 by July at M) took
     a few tenths of a second a day, growing. The full lists only when a latest is empty. #}
  {% set latest = roll_candidates(latest_only=true) %}
  {% set chosen = first_non_empty_rolls(latest) %}
  {% if chosen | length < latest | length %}
    {% set chosen = first_non_empty_rolls(roll_candidates(latest_only=false)) %}
  {% endif %}
  {{ return(chosen | sort) }}
{% endmacro %}

{# URN -> its snapshot files known on D, the latest first (only the latest, with latest_only). #}
{% macro roll_candidates(latest_only) %}
  {% set candidates_sql %}
    with files as (
        select
            file,
            split_part(file, '/', -2) as urn,
            try_strptime(regexp_extract(file, 'pupils_([0-9]{8}T[0-9]{6})\.parquet$', 1),
                         '%Y%m%dT%H%M%S') as extracted_at
        from glob('{{ rolls_glob() }}')
    )
    select urn, file
    from files
    where cast(extracted_at as date) <= {{ run_date() }}
    {%- if latest_only %}
    qualify row_number() over (partition by urn order by extracted_at desc, file desc) = 1
    {%- endif %}
    order by urn, extracted_at desc, file desc
  {% endset %}
  {% set queue = {} %}
  {% for row in run_query(candidates_sql).rows %}
    {% do queue.setdefault(row[0], []).append(row[1]) %}
  {% endfor %}
  {{ return(queue) }}
{% endmacro %}

{# Per academy, the first of its candidates with rows (none when every one is empty). #}
{% macro first_non_empty_rolls(queue) %}
  {% set chosen = [] %}
  {% set position = {} %}
  {% for urn in queue %}
    {% do position.update({urn: 0}) %}
  {% endfor %}
  {# Each round asks the footers of every unresolved academy's next candidate. #}
  {% for _ in range(queue.values() | map('length') | max if queue else 0) %}
    {% set asked = [] %}
    {% for urn, files in queue.items() %}
      {% if position[urn] is not none and position[urn] < files | length %}
        {% do asked.append(files[position[urn]]) %}
      {% endif %}
    {% endfor %}
    {% if asked %}
      {% set rows_sql %}
        select file_name, num_rows from parquet_file_metadata({{ asked }})
      {% endset %}
      {% set counts = {} %}
      {% for row in run_query(rows_sql).rows %}
        {% do counts.update({row[0]: row[1]}) %}
      {% endfor %}
      {% for urn, files in queue.items() %}
        {% if position[urn] is not none and position[urn] < files | length %}
          {% if counts[files[position[urn]]] > 0 %}
            {% do chosen.append(files[position[urn]]) %}
            {% do position.update({urn: none}) %}
          {% else %}
            {% do position.update({urn: position[urn] + 1}) %}
          {% endif %}
        {% endif %}
      {% endfor %}
    {% endif %}
  {% endfor %}
  {{ return(chosen) }}
{% endmacro %}
