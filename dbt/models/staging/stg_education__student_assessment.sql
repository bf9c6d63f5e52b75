with source as (

    select * from {{ source('education', 'studentAssessment') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(id_assessment as bigint) as assessment_id,
        cast(id_student as bigint) as student_id,
        cast(date_submitted as integer) as submitted_day,
        cast(is_banked = 1 as boolean) as is_banked,
        cast(score as double) as score,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
