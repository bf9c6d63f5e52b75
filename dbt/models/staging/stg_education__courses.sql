-- courses is redelivered whole every day: the newest partition is the current catalogue
with source as (

    select * from {{ source('education', 'courses') }}
    where {{ lakeops.is_latest_partition(source('education', 'courses')) }}
      and {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(code_module as varchar) as code_module,
        cast(code_presentation as varchar) as code_presentation,
        cast(module_presentation_length as integer) as presentation_length_days,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
