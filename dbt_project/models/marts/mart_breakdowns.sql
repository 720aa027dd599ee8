-- SPEC 5.3 breakdowns, as of D, for the trust and for each academy: the rates by academy, year
-- group, reg group, FSM, SEN, EAL, gender, ethnicity, day of the week and week, each against the
-- trust average and the national figures (seed national_figures). Long format: one row per
-- scope, academy (null for the trust), dimension and value.
-- Population: the pupils on roll on D (mart_pupil_status), sessions of the academic year to D.
-- Rates are sessions over possible sessions summed over enrolments (never an average of rates);
-- `pupils` counts enrolments with at least one possible session, the denominator of pa_pct.
-- PA is a pupil's year-to-date status, so weekday and week rows carry no PA figures.
with status as (
    select * from {{ ref('mart_pupil_status') }}
),

pupil_dims as (
    {%- set dims = [
        ('all', "'all'"),
        ('academy', 'urn'),
        ('year_group', 'nc_year'),
        ('reg_group', 'reg_group'),
        ('fsm', 'fsm'),
        ('sen', 'sen'),
        ('eal', 'eal'),
        ('gender', 'gender'),
        ('ethnicity', 'ethnicity'),
    ] %}
    {%- for name, expr in dims %}
    select
        urn,
        upn,
        '{{ name }}' as dimension,
        coalesce(cast({{ expr }} as varchar), 'unknown') as value,
        possible_sessions as possible,
        attended_sessions as attended,
        absence_sessions as absence,
        case when persistent_absentee then 1 else 0 end as pa
    from status
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

year_weeks as (
    -- the school weeks of the year to D, each with its Monday
    select distinct urn, school_week_index, week_start as monday
    from {{ ref('stg_calendar') }}
    where is_school_day
      and calendar_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),

-- The weekday and week slices come from int_pupil_week's school-day sums by day of the week
-- (1.6 million pupil-weeks at 40,000 pupils by July) rather than from the year's 8 million
-- pupil-days, which made this the mart of a daily run that grew most over the year. A
-- week's sums hold all its school days, so the facts of the year's first week before
-- 1 September and of D's week after D are taken off again (edge_days, a few days' facts).
pupil_weeks as (
    select pw.urn, pw.upn, pw.school_week_index, year_weeks.monday
        {%- for d in range(1, 8) %}
        {%- for m in ['days', 'possible', 'attended', 'absence'] %},
        coalesce(pw.school_{{ m }}_d{{ d }}, 0) as school_{{ m }}_d{{ d }}
        {%- endfor %}
        {%- endfor %}
    from {{ ref('int_pupil_week') }} as pw
    inner join year_weeks
        on year_weeks.urn = pw.urn and year_weeks.school_week_index = pw.school_week_index
    semi join status on status.urn = pw.urn and status.upn = pw.upn
),

edge_days as (
    select day.urn, day.upn, day.school_week_index, isodow(day.mark_date) as dow,
           day.possible_sessions as possible, day.attended_sessions as attended,
           day.absence_sessions as absence
    from {{ ref('fct_pupil_day') }} as day
    semi join {{ ref('stg_calendar') }} as cal
        on cal.urn = day.urn and cal.calendar_date = day.mark_date and cal.is_school_day
    semi join year_weeks
        on year_weeks.urn = day.urn and year_weeks.school_week_index = day.school_week_index
    semi join status on status.urn = day.urn and status.upn = day.upn
    where day.mark_date between {{ academic_year_start(run_date()) }} - 6
                            and {{ academic_year_start(run_date()) }} - 1
       or day.mark_date between {{ run_date() }} + 1 and {{ run_date() }} + 6
),

pupil_dows as (
    -- each pupil's school days and sessions by day of the week, over the year's weeks
    select urn, upn
        {%- for d in range(1, 8) %},
        sum(school_days_d{{ d }}) as days_{{ d }},
        sum(school_possible_d{{ d }}) as possible_{{ d }},
        sum(school_attended_d{{ d }}) as attended_{{ d }},
        sum(school_absence_d{{ d }}) as absence_{{ d }}
        {%- endfor %}
    from pupil_weeks
    group by urn, upn
),

edges as (
    -- the edge days' facts per pupil and day of the week (school_week_index null), and per
    -- pupil and week (dow null)
    select urn, upn, dow, school_week_index, count(*) as days, sum(possible) as possible,
           sum(attended) as attended, sum(absence) as absence
    from edge_days
    group by grouping sets ((urn, upn, dow), (urn, upn, school_week_index))
),

weekday_pupils as (
    -- one row per pupil and day of the week with a school day in the slice
    {%- for d in range(1, 8) %}
    select p.urn, p.upn, {{ d }} as dow,
           p.possible_{{ d }} - coalesce(e.possible, 0) as possible,
           p.attended_{{ d }} - coalesce(e.attended, 0) as attended,
           p.absence_{{ d }} - coalesce(e.absence, 0) as absence
    from pupil_dows as p
    left join edges as e on e.urn = p.urn and e.upn = p.upn and e.dow = {{ d }}
    where p.days_{{ d }} - coalesce(e.days, 0) > 0
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),


week_pupils as (
    -- one row per pupil and week with a school day in the slice
    select pw.urn, pw.upn, pw.monday,
           ({% for d in range(1, 8) %}pw.school_possible_d{{ d }}{% if not loop.last %} + {% endif %}{% endfor %})
               - coalesce(e.possible, 0) as possible,
           ({% for d in range(1, 8) %}pw.school_attended_d{{ d }}{% if not loop.last %} + {% endif %}{% endfor %})
               - coalesce(e.attended, 0) as attended,
           ({% for d in range(1, 8) %}pw.school_absence_d{{ d }}{% if not loop.last %} + {% endif %}{% endfor %})
               - coalesce(e.absence, 0) as absence
    from pupil_weeks as pw
    left join edges as e
        on e.urn = pw.urn and e.upn = pw.upn and e.school_week_index = pw.school_week_index
    where ({% for d in range(1, 8) %}pw.school_days_d{{ d }}{% if not loop.last %} + {% endif %}{% endfor %})
          - coalesce(e.days, 0) > 0
),

slice_academy as (
    -- a day of the week or a week is in its slice when some pupil on roll has a school day's
    -- row in it; weekdays are named "1 Monday" .. "7 Sunday" (1 January 2024 was a Monday)
    select urn, dimension, value,
           cast(count(*) filter (where possible > 0) as integer) as pupils,
           cast(sum(possible) as integer) as possible,
           cast(sum(attended) as integer) as attended,
           cast(sum(absence) as integer) as absence
    from (
        select urn, 'weekday' as dimension,
               cast(dow as varchar) || ' '
                   || dayname(date '2024-01-01' + cast(dow - 1 as integer)) as value,
               possible, attended, absence
        from weekday_pupils
        union all
        select urn, 'week' as dimension, cast(monday as varchar) as value,
               possible, attended, absence
        from week_pupils
    )
    group by urn, dimension, value
),

per_pupil as (
    -- one row per pupil per slice, so a pupil counts once in `pupils` (status has one row per
    -- pupil; the weekday and week slices count their pupils per academy above)
    select urn, upn, dimension, value,
           cast(possible as integer) as possible,
           cast(attended as integer) as attended,
           cast(absence as integer) as absence,
           pa
    from pupil_dims
),

grouped as (
    select 'trust' as scope, cast(null as varchar) as urn, dimension, value,
           cast(sum(case when possible > 0 then 1 else 0 end) as integer) as pupils,
           cast(sum(possible) as integer) as possible,
           cast(sum(attended) as integer) as attended,
           cast(sum(absence) as integer) as absence,
           cast(sum(case when possible > 0 then pa end) as integer) as pa_count
    from per_pupil
    group by dimension, value
    union all
    select 'academy' as scope, urn, dimension, value,
           cast(sum(case when possible > 0 then 1 else 0 end) as integer) as pupils,
           cast(sum(possible) as integer) as possible,
           cast(sum(attended) as integer) as attended,
           cast(sum(absence) as integer) as absence,
           cast(sum(case when possible > 0 then pa end) as integer) as pa_count
    from per_pupil
    where dimension <> 'academy'
    group by urn, dimension, value
    union all
    -- a pupil is one enrolment: the trust's count is the academies' counts summed
    select 'trust' as scope, cast(null as varchar) as urn, dimension, value,
           cast(sum(pupils) as integer) as pupils,
           cast(sum(possible) as integer) as possible,
           cast(sum(attended) as integer) as attended,
           cast(sum(absence) as integer) as absence,
           cast(null as integer) as pa_count
    from slice_academy
    group by dimension, value
    union all
    select 'academy' as scope, urn, dimension, value, pupils, possible,
           attended, absence, cast(null as integer) as pa_count
    from slice_academy
),

rates as (
    select
        grouped.*,
        {{ pct_1dp('attended', 'possible') }} as attendance_pct,
        {{ pct_1dp('absence', 'possible') }} as absence_pct,
        {{ pct_1dp('pa_count', 'pupils') }} as pa_pct
    from grouped
),

national_year as (
    -- the latest published figures not later than D's academic year
    select max(academic_year) as academic_year
    from {{ ref('national_figures') }}
    where academic_year <= cast(year({{ academic_year_start(run_date()) }}) as integer)
),

national as (
    select nf.*
    from {{ ref('national_figures') }} as nf
    inner join national_year on national_year.academic_year = nf.academic_year
),

national_all as (
    select * from national where phase = 'all'
)

select
    r.scope,
    r.urn,
    a.academy_name,
    a.phase,
    r.dimension,
    r.value,
    r.pupils,
    r.possible,
    r.attended,
    r.absence,
    r.attendance_pct,
    r.absence_pct,
    r.pa_count,
    r.pa_pct,
    trust_all.attendance_pct as trust_attendance_pct,
    r.attendance_pct - trust_all.attendance_pct as difference,
    trust_same.attendance_pct as trust_value_attendance_pct,
    r.attendance_pct - trust_same.attendance_pct as difference_from_trust_value,
    national_all.academic_year as national_academic_year,
    national_all.attendance_pct as national_attendance_pct,
    r.attendance_pct - national_all.attendance_pct as difference_national,
    coalesce(national_phase.phase, national_all.phase) as national_pa_phase,
    coalesce(national_phase.pa_pct, national_all.pa_pct) as national_pa_pct
from rates as r
inner join rates as trust_all
    on trust_all.scope = 'trust' and trust_all.dimension = 'all'
left join rates as trust_same
    on trust_same.scope = 'trust' and trust_same.dimension = r.dimension
   and trust_same.value = r.value
left join {{ ref('stg_academies') }} as a
    on a.urn = r.urn
left join national_all
    on true
left join national as national_phase
    on national_phase.phase = a.phase and national_phase.phase <> 'all'
