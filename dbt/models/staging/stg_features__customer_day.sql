-- every run of the Spark feature job is a partition; all of them are kept (history)
with source as (

    select * from {{ source('business_features', 'customer_day') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(customer_id as bigint) as customer_id,
        cast(as_of_date as date) as as_of_date,
        cast(recency_days as integer) as recency_days,
        cast(frequency as integer) as frequency,
        cast(monetary as double) as monetary,
        cast(orders_today as integer) as orders_today,
        cast(avg_order_value as double) as avg_order_value,
        cast(avg_items_per_order as double) as avg_items_per_order,
        cast(distinct_categories as integer) as distinct_categories,
        cast(first_order_date as date) as first_order_date,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
