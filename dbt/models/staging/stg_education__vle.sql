-- vle (the materials) is redelivered whole every day: keep the newest partition only
with source as (

    select * from {{ source('education', 'vle') }}
    where {{ lakeops.is_latest_partition(source('education', 'vle')) }}
      and {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(id_site as bigint) as site_id,
        cast(code_module as varchar) as code_module,
        cast(code_presentation as varchar) as code_presentation,
        cast(activity_type as varchar) as activity_type,
        cast(week_from as integer) as week_from,
        cast(week_to as integer) as week_to,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
