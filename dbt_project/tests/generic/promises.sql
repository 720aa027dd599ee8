{# A model's row promises checked by one data test: its key is unique, columns are
   not null, columns hold only accepted values, columns reference a parent model's column,
   and a boolean identity holds on every row. Fails with one row per broken promise and the
   number of rows (keys, for the key) breaking it; dbt reports their sum.

   One test per model instead of one per column and rule: each dbt test node costs about
   40 ms of dbt's own work whatever it reads, and the M daily build had 62 of them, most
   reading a column or two of a table a run rewrites only a sliver of (docs/benchmarks.md).

   `changed_on` and `since`, for the incremental models (macros/incremental.sql): the key's
   date column, and the int_pupil_changes column the model rewrites a pupil's rows from.
   After an incremental build only the changed pupils' rows from their own `since` on are
   read (`written_this_run`): a duplicate key needs one row this run wrote (both rows share
   the pupil and date), and every other row was checked by the run that wrote it, under
   the same build fingerprint. A full build reads every row.
   `built_on` instead, for an incremental model that stamps each row with the run date of
   the build that wrote it: after an incremental build the rows stamped D are read.

   Arguments: key (columns), not_null (columns), accepted_values ({column: [values]}),
   parents ({column: model whose column of the same name holds the keys}; nulls are not
   checked, as in dbt's relationships test), holds (a boolean SQL expression over a row),
   key_by_month (a date column of the key; below). #}
{% test promises(model, key, not_null=[], accepted_values={}, parents={}, holds=none,
                 changed_on=none, since=none, built_on=none, key_by_month=none) %}
{{ config(fail_calc='coalesce(sum(failing_rows), 0)') }}
{%- if changed_on or built_on %}
-- depends_on: {{ ref('int_build_plan') }}
{%- endif %}
{%- if changed_on %}
-- depends_on: {{ ref('int_pupil_changes') }}
{%- endif %}
{#- After an incremental build the rows the run wrote are picked out once and read twice;
    otherwise (a full build, a table rebuilt whole) the model is read twice in place: as a
    common table expression, even one not materialized, the planner no longer reads only
    the columns each half needs (M full build: 3.2 s against 2.0 s for the key alone). #}
{%- set picked = (changed_on or built_on) and run_plan_mode() == 'incremental' %}
{%- set checked = 'checked' if picked else model %}
with
{%- if picked %}
checked as materialized (
    select *
    from {{ model }} as kept
    {%- if built_on %}
    where kept."{{ built_on }}" = {{ run_date() }}
    {%- else %}
    {{ written_this_run('kept', changed_on, since) }}
    {%- endif %}
),
{%- endif %}

{#- `key_by_month`, a date column of the key: when the whole model is read, the key is
    checked one month at a time: the same duplicates (two rows with one key share its month),
    found with one month's keys in the hash table at a time (the M full build's 15.7 million
    session keys: 2.1-3.8 s -> 1.4-2.3 s; about the same for its 7.9 million pupil-days).
    The last part takes the rows outside the kept months (or without a date): `month_parts`. #}
{%- set key_columns -%}
    {% for column in key %}"{{ column }}"{% if not loop.last %}, {% endif %}{% endfor %}
{%- endset %}
{%- set parts = month_parts('checked."' ~ key_by_month ~ '"')
                if (key_by_month in key and not picked) else [none] %}
key_promise as (
    select count(*) as "key ({{ key | join(', ') }}) not unique"
    from (
        {%- for part in parts %}
        {%- if not loop.first %}
        union all
        {%- endif %}
        (
            select 1
            from {{ checked }} as checked
            {%- if part %}
            where ({{ part }})
            {%- endif %}
            group by {{ key_columns }}
            having count(*) > 1
        )
        {%- endfor %}
    )
),

row_promises as (
    select
        count(*) as checked_rows
        {%- for column in not_null %},
        count(*) filter (where checked."{{ column }}" is null) as "{{ column }} is null"
        {%- endfor %}
        {%- for column, values in accepted_values.items() %},
        count(*) filter (
            where checked."{{ column }}" is not null
              and checked."{{ column }}" not in (
                {%- for v in values %}'{{ v | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor -%}
              )
        ) as "{{ column }} not in ({{ values | join(', ') }})"
        {%- endfor %}
        {%- for column, parent in parents.items() %},
        count(*) filter (
            where checked."{{ column }}" is not null and parent_{{ loop.index }}.parent_key is null
        ) as "{{ column }} not in {{ parent }}"
        {%- endfor %}
        {%- if holds %},
        count(*) filter (where not coalesce(({{ holds }}), false)) as "identity does not hold"
        {%- endif %}
    from {{ checked }} as checked
    {%- for column, parent in parents.items() %}
    left join (select distinct "{{ column }}" as parent_key from {{ ref(parent) }}) as parent_{{ loop.index }}
        on parent_{{ loop.index }}.parent_key = checked."{{ column }}"
    {%- endfor %}
),

totals as (
    select * exclude (checked_rows) from key_promise cross join row_promises
)

select promise, failing_rows
from (unpivot totals on columns(*) into name promise value failing_rows)
where failing_rows > 0
{% endtest %}
