-- SPEC 5.3 breakdowns, as of D, for the trust and for each academy: the rates by academy, year
-- group, reg group, FSM, SEN, EAL, gender, ethnicity, day of the week and week, each against the
-- trust average and the national figures (seed national_figures). Long format: one row per
-- scope, academy (null for the trust), dimension and value.
-- Population: the pupils on roll on D (mart_pupil_status; the weekday and week slices in
-- int_breakdown_slices, by the same rule: macros/population.sql), sessions of the academic
-- year to D.
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

slice_academy as (
    -- the weekday and week slices per academy (int_breakdown_slices: built beside the
    -- pupils' stages, not after mart_pupil_status)
    select urn, dimension, value, pupils, possible, attended, absence
    from {{ ref('int_breakdown_slices') }}
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
