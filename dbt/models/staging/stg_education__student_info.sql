with source as (

    select * from {{ source('education', 'studentInfo') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(code_module as varchar) as code_module,
        cast(code_presentation as varchar) as code_presentation,
        cast(id_student as bigint) as student_id,
        cast(gender as varchar) as gender,
        cast(region as varchar) as region,
        cast(highest_education as varchar) as highest_education,
        cast(imd_band as varchar) as imd_band,
        cast(age_band as varchar) as age_band,
        cast(num_of_prev_attempts as integer) as previous_attempts,
        cast(studied_credits as integer) as studied_credits,
        cast(disability as varchar) as disability,
        cast(final_result as varchar) as final_result,
        cast(email_hash as varchar) as email_hash,
        cast(date_of_birth_year as integer) as birth_year,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
