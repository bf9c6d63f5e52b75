{{ config(location=lakeops.mart_location()) }}

-- Training rows of the at-risk model: the rows of ml_education_features (one per student,
-- presentation and prediction day, point in time, withdrawn students left out) whose final
-- result is known. Selecting from the scoring mart keeps training and scoring rows the same.
with features as (

    select * from {{ ref('ml_education_features') }}

),

final as (

    select
        code_module,
        code_presentation,
        student_id,
        prediction_day,
        feature_as_of_day,
        feature_age_days,
        feature_week,
        clicks_week,
        clicks_total,
        clicks_resource,
        clicks_oucontent,
        clicks_url,
        clicks_subpage,
        clicks_forumng,
        clicks_quiz,
        clicks_homepage,
        clicks_other,
        active_days_week,
        active_days_total,
        days_since_last_activity,
        assessments_submitted,
        mean_lateness_days,
        late_submissions,
        mean_score,
        gender,
        region,
        highest_education,
        imd_band,
        age_band,
        disability,
        previous_attempts,
        studied_credits,
        final_result,
        is_at_risk

    from features
    where is_result_known

)

select * from final
