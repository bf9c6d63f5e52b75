{{ config(location=lakeops.mart_location()) }}

-- Training rows of the reorder model: the rows of ml_business_features (one per customer
-- and as-of date) whose 30-day label window is complete, i.e. reordered_within_30d is known.
-- Selecting from the scoring mart keeps training and scoring rows the same.
with features as (

    select * from {{ ref('ml_business_features') }}

),

final as (

    select
        customer_id,
        as_of_date,
        recency_days,
        frequency,
        monetary,
        orders_today,
        avg_order_value,
        avg_items_per_order,
        distinct_categories,
        first_order_date,
        segment,
        country,
        city,
        tenure_days,
        reordered_within_30d

    from features
    where reordered_within_30d is not null

)

select * from final
