-- the catalogue is redelivered whole every day: the newest partition is the current one
with source as (

    select * from {{ source('business', 'products') }}
    where {{ lakeops.is_latest_partition(source('business', 'products')) }}
      and {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(product_id as bigint) as product_id,
        cast(name as varchar) as product_name,
        cast(category as varchar) as category,
        cast(unit_price as decimal(12, 2)) as unit_price,
        cast(currency as varchar) as currency,
        cast(active as boolean) as is_active,
        cast(updated_at as timestamp) as updated_at,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
