-- One feature row per customer and as-of date; the newest run of the feature job wins.
with features as (

    select * from {{ ref('stg_features__customer_day') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_id, as_of_date
            order by delivered_on desc
        ) as recency

    from features

),

latest as (

    select
        customer_id, as_of_date, recency_days, frequency, monetary, orders_today,
        avg_order_value, avg_items_per_order, distinct_categories, first_order_date,
        delivered_on

    from ranked
    where recency = 1

)

select * from latest
