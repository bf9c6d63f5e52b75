with source as (

    select * from {{ source('business', 'order_items') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(order_id as bigint) as order_id,
        cast(line_number as integer) as line_number,
        cast(product_id as bigint) as product_id,
        cast(quantity as integer) as quantity,
        cast(unit_price as decimal(12, 2)) as unit_price,
        cast(line_amount as decimal(12, 2)) as line_amount,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
