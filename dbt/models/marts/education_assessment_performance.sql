{{ config(location=lakeops.mart_location()) }}

-- Outcomes and assessment results per module presentation and demographic slice
-- (gender, age band, IMD band, highest education, disability) from studentInfo.
with enrolments as (

    select * from {{ ref('int_education__enrolments') }}

),

submissions as (

    select * from {{ ref('int_education__submissions') }}

),

students as (

    select
        code_module,
        code_presentation,
        gender,
        age_band,
        imd_band,
        highest_education,
        disability,
        count(*) as students,
        sum(case when is_withdrawn then 1 else 0 end) as withdrawn_students,
        sum(case when is_result_known then 1 else 0 end) as results_known,
        sum(case when is_completed then 1 else 0 end) as completions,
        sum(case when is_at_risk then 1 else 0 end) as at_risk_students

    from enrolments
    group by code_module, code_presentation, gender, age_band, imd_band,
        highest_education, disability

),

results as (

    select
        e.code_module,
        e.code_presentation,
        e.gender,
        e.age_band,
        e.imd_band,
        e.highest_education,
        e.disability,
        count(*) as submissions,
        count(s.score) as marked_submissions,
        sum(case when s.is_passed then 1 else 0 end) as passed_submissions,
        sum(case when s.is_late then 1 else 0 end) as late_submissions,
        avg(s.score) as mean_score,
        avg(case when s.assessment_type = 'TMA' then s.score end) as mean_score_tma,
        avg(case when s.assessment_type = 'CMA' then s.score end) as mean_score_cma,
        avg(case when s.assessment_type = 'Exam' then s.score end) as mean_score_exam,
        avg(cast(s.lateness_days as double)) as mean_lateness_days

    from submissions as s
    inner join enrolments as e
        on e.code_module = s.code_module
        and e.code_presentation = s.code_presentation
        and e.student_id = s.student_id
    group by e.code_module, e.code_presentation, e.gender, e.age_band, e.imd_band,
        e.highest_education, e.disability

),

final as (

    select
        st.code_module,
        st.code_presentation,
        st.gender,
        st.age_band,
        st.imd_band,
        st.highest_education,
        st.disability,
        cast(st.students as bigint) as students,
        cast(st.withdrawn_students as bigint) as withdrawn_students,
        {{ lakeops.ratio('st.withdrawn_students', 'st.students') }} as withdrawal_rate,
        cast(st.results_known as bigint) as results_known,
        {{ lakeops.ratio('st.completions', 'st.results_known') }} as completion_rate,
        {{ lakeops.ratio('st.at_risk_students', 'st.results_known') }} as at_risk_rate,
        cast(coalesce(r.submissions, 0) as bigint) as submissions,
        cast(coalesce(r.marked_submissions, 0) as bigint) as marked_submissions,
        {{ lakeops.ratio('r.passed_submissions', 'r.marked_submissions') }} as pass_rate,
        {{ lakeops.ratio('r.late_submissions', 'r.submissions') }} as late_submission_rate,
        r.mean_lateness_days,
        r.mean_score,
        r.mean_score_tma,
        r.mean_score_cma,
        r.mean_score_exam

    from students as st
    left join results as r
        on r.code_module = st.code_module
        and r.code_presentation = st.code_presentation
        and r.gender = st.gender
        and r.age_band = st.age_band
        and r.imd_band = st.imd_band
        and r.highest_education = st.highest_education
        and r.disability = st.disability

)

select * from final
