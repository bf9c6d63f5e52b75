{{ config(location=lakeops.mart_location()) }}

-- Per module presentation and OULAD week: enrolment, withdrawal, completion and activity.
-- Week 0 also holds whatever happened before the presentation started (most students
-- register early; the clickstream has negative days).
with enrolments as (

    select * from {{ ref('int_education__enrolments') }}

),

interactions as (

    select * from {{ ref('int_education__vle_interactions') }}

),

weeks as (

    select distinct code_module, code_presentation, greatest(week, 0) as week
    from interactions

    union

    select distinct code_module, code_presentation, registration_week as week
    from enrolments

    union

    select distinct code_module, code_presentation, withdrawal_week as week
    from enrolments
    where withdrawal_week is not null

),

enrolment_state as (

    -- every student registered by the end of the week, whatever happened since
    select
        w.code_module,
        w.code_presentation,
        w.week,
        count(e.student_id) as enrolments,
        sum(case when e.registration_week = w.week then 1 else 0 end) as new_enrolments,
        sum(case when e.withdrawal_week = w.week then 1 else 0 end) as withdrawals,
        sum(case when e.withdrawal_week <= w.week then 1 else 0 end) as withdrawals_to_date,
        sum(case when e.is_result_known then 1 else 0 end) as results_known,
        sum(case when e.is_completed then 1 else 0 end) as completions

    from weeks as w
    left join enrolments as e
        on e.code_module = w.code_module
        and e.code_presentation = w.code_presentation
        and e.registration_week <= w.week
    group by w.code_module, w.code_presentation, w.week

),

activity as (

    select
        code_module,
        code_presentation,
        greatest(week, 0) as week,
        count(distinct student_id) as active_students,
        sum(clicks) as clicks

    from interactions
    group by code_module, code_presentation, greatest(week, 0)

),

final as (

    select
        s.code_module,
        s.code_presentation,
        s.week,
        cast(s.enrolments as bigint) as enrolments,
        cast(s.new_enrolments as bigint) as new_enrolments,
        cast(s.withdrawals as bigint) as withdrawals,
        cast(s.withdrawals_to_date as bigint) as withdrawals_to_date,
        {{ lakeops.ratio('s.withdrawals_to_date', 's.enrolments') }} as withdrawal_rate,
        cast(s.results_known as bigint) as results_known,
        cast(s.completions as bigint) as completions,
        {{ lakeops.ratio('s.completions', 's.results_known') }} as completion_rate,
        cast(coalesce(a.active_students, 0) as bigint) as active_students,
        cast(coalesce(a.clicks, 0) as bigint) as clicks,
        {{ lakeops.ratio('a.clicks', 'a.active_students') }} as clicks_per_active_student

    from enrolment_state as s
    left join activity as a
        on a.code_module = s.code_module
        and a.code_presentation = s.code_presentation
        and a.week = s.week

)

select * from final
