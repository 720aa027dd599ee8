-- Supersession (SPEC 4): for each academy, pupil, date and session the mark from the latest
-- extraction known on D wins; ties go to the later file name, then the later row.
-- Incremental when D moves forward in the same academic year (macros/marks_current.sql): the
-- winners already known are kept and only the keys the new deliveries touch are re-ranked.
-- The table is kept between runs: a full build empties it first (pre-hook) and fills it month
-- by month (post-hook), an incremental one replaces the re-ranked keys (delete+insert on the
-- key).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['urn', 'upn', 'mark_date', 'session'],
    pre_hook="{{ marks_current_clear(marks_current_plan()) }}",
    post_hook=[
        "{{ marks_current_fill(marks_current_plan()) }}",
        "{{ marks_current_record(marks_current_plan()) }}",
    ],
) }}
-- depends_on: {{ ref('stg_marks_files') }}
{%- set plan = marks_current_plan() %}
{%- set columns = marks_current_columns() %}
-- Stored in date order (a daily build then appends its few re-ranked keys, mostly dated D):
-- the zone maps on mark_date let the incremental re-ranking's lookup of the touched keys and
-- its delete+insert skip the rest of the year, which they otherwise probed row by row (M,
-- under load: 4.1 s -> 0.9 s and 2.4 s -> 0.2 s a day), and the models that read the table
-- whole take their input by date (a full build's fct_pupil_session and fct_pupil_day: 1-2 s
-- more each when it is not).
{%- if plan.mode == 'full' %}
-- A full build ranks each month's versions in a statement of its own, one after another in
-- the post-hook (marks_current_fill): a key's versions share its date, so no window or sort
-- holds more than a month of the history. Here it only makes the table, empty.
select {{ columns | join(', ') }}
from {{ ref('stg_marks') }}
where false
{%- else %}
{%- if plan.files %}
with new_versions as (
    -- the versions in the files not yet read that are known on D (as stg_marks filters them)
    select {{ columns | join(', ') }}
    from read_parquet({{ plan.files }})
    where cast(extracted_at as date) <= {{ run_date() }}
      and mark_date <= {{ run_date() }}
      and mark_date >= {{ academic_year_start(run_date()) }} - interval 1 year
),

touched as (
    select distinct urn, upn, mark_date, session from new_versions
),

ranked as (
    select
        *,
        row_number() over (
            partition by urn, upn, mark_date, session
            order by {{ latest_version_first() }}
        ) as version_rank
    from (
        select * from new_versions
        union all
        select {% for column in columns %}cur.{{ column }}{% if not loop.last %}, {% endif %}{% endfor %}
        from {{ this }} as cur
        semi join touched
            on touched.urn = cur.urn and touched.upn = cur.upn
           and touched.mark_date = cur.mark_date and touched.session = cur.session
    )
)
{%- else %}
with ranked as (
    select *, 2 as version_rank from {{ this }} where false
)
{%- endif %}

select {{ columns | join(', ') }}
from ranked
where version_rank = 1
order by mark_date
{%- endif %}
