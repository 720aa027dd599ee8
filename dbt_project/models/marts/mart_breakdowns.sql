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

school_days as (
    select
        day.urn,
        day.upn,
        day.mark_date,
        day.possible_sessions,
        day.attended_sessions,
        day.absence_sessions
    from {{ ref('fct_pupil_day') }} as day
    -- semi joins: as inner joins the planner paired every pupil with every school day first
    semi join {{ ref('stg_calendar') }} as cal
        on cal.urn = day.urn and cal.calendar_date = day.mark_date and cal.is_school_day
    semi join status
        on status.urn = day.urn and status.upn = day.upn
    where day.mark_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),

-- The weekday and week slices are summed per academy on the date's numbers (day of the week,
-- the week's Monday) and named after: naming millions of pupil-days first made this the
-- slowest mart of a daily run, and so did summing them per pupil (202,000 pupil-weekdays and
-- 1.6 million pupil-weeks at 40,000 pupils), where only the count of pupils needs the pupil.
weekday_academy as (
    select urn, cast(isodow(mark_date) as varchar) || ' ' || dayname(min(mark_date)) as value,
           cast(count(distinct upn) filter (where possible_sessions > 0) as integer) as pupils,
           cast(sum(possible_sessions) as integer) as possible,
           cast(sum(attended_sessions) as integer) as attended,
           cast(sum(absence_sessions) as integer) as absence
    from school_days
    group by urn, isodow(mark_date)
),

-- The week slice's `pupils` (those with a possible session on the week's school days) come
-- from int_pupil_week, which already sums each pupil's weeks, less what a pupil has on a day
-- of the week outside the slice: a closure day with a mark, or a day before 1 September or
-- after D.
week_totals as (
    select urn, cast(mark_date - cast(isodow(mark_date) - 1 as integer) as date) as monday,
           sum(possible_sessions) as possible, sum(attended_sessions) as attended,
           sum(absence_sessions) as absence
    from school_days
    group by urn, cast(mark_date - cast(isodow(mark_date) - 1 as integer) as date)
),

year_weeks as (
    select distinct urn, school_week_index, week_start as monday
    from {{ ref('stg_calendar') }}
    where is_school_day
      and calendar_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
),

off_slice_days as (
    -- pupil-days in those weeks outside the slice: closure days from 1 September to D, and
    -- days of the first and last weeks before 1 September or after D
    select day.urn, day.upn, day.school_week_index, day.possible_sessions
    from {{ ref('fct_pupil_day') }} as day
    semi join {{ ref('stg_calendar') }} as cal
        on cal.urn = day.urn and cal.calendar_date = day.mark_date and not cal.is_school_day
    where day.mark_date between {{ academic_year_start(run_date()) }} and {{ run_date() }}
    {%- for first, last in [
        (academic_year_start(run_date()) ~ ' - 6', academic_year_start(run_date()) ~ ' - 1'),
        (run_date() ~ ' + 1', run_date() ~ ' + 6'),
    ] %}
    union all
    select day.urn, day.upn, day.school_week_index, day.possible_sessions
    from {{ ref('fct_pupil_day') }} as day
    semi join year_weeks
        on year_weeks.urn = day.urn and year_weeks.school_week_index = day.school_week_index
    where day.mark_date between {{ first }} and {{ last }}
    {%- endfor %}
),

off_slice as (
    select urn, upn, school_week_index, sum(possible_sessions) as possible
    from off_slice_days
    group by urn, upn, school_week_index
),

week_pupils as (
    select pw.urn, year_weeks.monday, count(*) as pupils
    from {{ ref('int_pupil_week') }} as pw
    inner join year_weeks
        on year_weeks.urn = pw.urn and year_weeks.school_week_index = pw.school_week_index
    semi join status on status.urn = pw.urn and status.upn = pw.upn
    left join off_slice
        on off_slice.urn = pw.urn and off_slice.upn = pw.upn
       and off_slice.school_week_index = pw.school_week_index
    where pw.possible_sessions - coalesce(off_slice.possible, 0) > 0
    group by pw.urn, year_weeks.monday
),

week_academy as (
    -- a week is in the slice when some pupil on roll has a school day's row in it
    select week_totals.urn, cast(week_totals.monday as varchar) as value,
           cast(coalesce(week_pupils.pupils, 0) as integer) as pupils,
           cast(week_totals.possible as integer) as possible,
           cast(week_totals.attended as integer) as attended,
           cast(week_totals.absence as integer) as absence
    from week_totals
    left join week_pupils
        on week_pupils.urn = week_totals.urn and week_pupils.monday = week_totals.monday
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
    {%- for dimension in ['weekday', 'week'] %}
    union all
    -- a pupil is one enrolment: the trust's count is the academies' counts summed
    select 'trust' as scope, cast(null as varchar) as urn, '{{ dimension }}' as dimension, value,
           cast(sum(pupils) as integer) as pupils,
           cast(sum(possible) as integer) as possible,
           cast(sum(attended) as integer) as attended,
           cast(sum(absence) as integer) as absence,
           cast(null as integer) as pa_count
    from {{ dimension }}_academy
    group by value
    union all
    select 'academy' as scope, urn, '{{ dimension }}' as dimension, value, pupils, possible,
           attended, absence, cast(null as integer) as pa_count
    from {{ dimension }}_academy
    {%- endfor %}
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
