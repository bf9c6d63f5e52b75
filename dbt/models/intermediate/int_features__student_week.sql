-- One feature row per student and as-of day. A re-run of the feature job for a day is a
-- newer partition: the row of the newest run wins; if a run wrote several weeks for one
-- as-of day, the latest week is the current one.
with features as (

    select * from {{ ref('stg_features__student_week') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by code_module, code_presentation, student_id, as_of_day
            order by delivered_on desc, feature_interval desc, week desc
        ) as recency

    from features

),

latest as (

    select
        code_module, code_presentation, student_id, week, as_of_day, clicks_week,
        clicks_total, clicks_resource, clicks_oucontent, clicks_url, clicks_subpage,
        clicks_forumng, clicks_quiz, clicks_homepage, clicks_other, active_days_week,
        active_days_total, days_since_last_activity, assessments_submitted,
        mean_lateness_days, late_submissions, mean_score, feature_interval, delivered_on

    from ranked
    where recency = 1

)

select * from latest
