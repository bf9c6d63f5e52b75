with source as (

    select * from {{ source('business', 'payments') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(payment_id as bigint) as payment_id,
        cast(order_id as bigint) as order_id,
        cast(payment_ts as timestamp) as paid_at,
        cast(method as varchar) as payment_method,
        cast(amount as decimal(12, 2)) as amount,
        cast(status as varchar) as payment_status,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
