with source as (

    select * from {{ source('business', 'orders') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        cast(order_ts as timestamp) as ordered_at,
        cast(order_ts as date) as order_date,
        cast(status as varchar) as order_status,
        cast(channel as varchar) as channel,
        cast(currency as varchar) as currency,
        cast(total_amount as decimal(12, 2)) as order_total,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
