with source as (

    select * from {{ source('education', 'studentVle') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(code_module as varchar) as code_module,
        cast(code_presentation as varchar) as code_presentation,
        cast(id_student as bigint) as student_id,
        cast(id_site as bigint) as site_id,
        cast({{ adapter.quote('date') }} as integer) as activity_day,
        cast(sum_click as integer) as clicks,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
