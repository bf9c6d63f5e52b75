-- every run of the Spark feature job is a partition; all of them are kept (history)
with source as (

    select * from {{ source('education_features', 'student_week') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(code_module as varchar) as code_module,
        cast(code_presentation as varchar) as code_presentation,
        cast(id_student as bigint) as student_id,
        cast(week as integer) as week,
        cast(as_of_day as integer) as as_of_day,
        cast(clicks_week as bigint) as clicks_week,
        cast(clicks_total as bigint) as clicks_total,
        cast(clicks_resource as bigint) as clicks_resource,
        cast(clicks_oucontent as bigint) as clicks_oucontent,
        cast(clicks_url as bigint) as clicks_url,
        cast(clicks_subpage as bigint) as clicks_subpage,
        cast(clicks_forumng as bigint) as clicks_forumng,
        cast(clicks_quiz as bigint) as clicks_quiz,
        cast(clicks_homepage as bigint) as clicks_homepage,
        cast(clicks_other as bigint) as clicks_other,
        cast(active_days_week as integer) as active_days_week,
        cast(active_days_total as integer) as active_days_total,
        cast(days_since_last_activity as integer) as days_since_last_activity,
        cast(assessments_submitted as integer) as assessments_submitted,
        cast(mean_lateness_days as double) as mean_lateness_days,
        cast(late_submissions as integer) as late_submissions,
        cast(mean_score as double) as mean_score,
        cast({{ adapter.quote('interval') }} as date) as feature_interval,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
