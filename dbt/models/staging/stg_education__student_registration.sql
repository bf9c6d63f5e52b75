-- one row per delivered registration record; a withdrawal is a later record of the same key
with source as (

    select * from {{ source('education', 'studentRegistration') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(code_module as varchar) as code_module,
        cast(code_presentation as varchar) as code_presentation,
        cast(id_student as bigint) as student_id,
        cast(date_registration as integer) as registered_day,
        cast(date_unregistration as integer) as unregistered_day,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
