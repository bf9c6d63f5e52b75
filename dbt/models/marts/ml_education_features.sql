{{ config(location=lakeops.mart_location()) }}

-- Scoring rows of the at-risk model: one per student, presentation and prediction day,
-- holding the student's newest feature row as of that day (never a later one), the
-- demographics and — when the final result is known — the label. Training
-- (ml_education_training) keeps the rows of this mart whose label is known, so the rows a
-- model learns from and the rows it scores are built by this one query.
--
-- Prediction days are the days the feature job computed features for (per presentation).
-- A feature row is valid from its as_of_day until the student's next feature row, so a
-- student without a row on a prediction day carries the previous one forward; the next
-- row's day only bounds the validity, none of its values is used. Students already
-- withdrawn on the prediction day are left out: their outcome is known by then.
with features as (

    select * from {{ ref('int_features__student_week') }}

),

enrolments as (

    select * from {{ ref('int_education__enrolments') }}

),

prediction_days as (

    select distinct code_module, code_presentation, as_of_day as prediction_day
    from features

),

validity as (

    select
        *,
        lead(as_of_day) over (
            partition by code_module, code_presentation, student_id order by as_of_day
        ) as valid_until_day

    from features

),

as_of as (

    select
        p.prediction_day,
        v.*

    from prediction_days as p
    inner join validity as v
        on v.code_module = p.code_module
        and v.code_presentation = p.code_presentation
        and v.as_of_day <= p.prediction_day
        and (v.valid_until_day is null or p.prediction_day < v.valid_until_day)

),

final as (

    select
        a.code_module,
        a.code_presentation,
        a.student_id,
        a.prediction_day,
        a.as_of_day as feature_as_of_day,
        a.prediction_day - a.as_of_day as feature_age_days,
        a.week as feature_week,
        a.clicks_week,
        a.clicks_total,
        a.clicks_resource,
        a.clicks_oucontent,
        a.clicks_url,
        a.clicks_subpage,
        a.clicks_forumng,
        a.clicks_quiz,
        a.clicks_homepage,
        a.clicks_other,
        a.active_days_week,
        a.active_days_total,
        a.days_since_last_activity,
        a.assessments_submitted,
        a.mean_lateness_days,
        a.late_submissions,
        a.mean_score,
        e.gender,
        e.region,
        e.highest_education,
        e.imd_band,
        e.age_band,
        e.disability,
        e.previous_attempts,
        e.studied_credits,
        case when e.is_result_known then e.final_result end as final_result,
        case when e.is_result_known then e.is_at_risk end as is_at_risk,
        coalesce(e.is_result_known, false) as is_result_known

    from as_of as a
    inner join enrolments as e
        on e.code_module = a.code_module
        and e.code_presentation = a.code_presentation
        and e.student_id = a.student_id
    where e.unregistered_day is null or e.unregistered_day > a.prediction_day

)

select * from final
