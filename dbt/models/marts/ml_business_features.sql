{{ config(location=lakeops.mart_location()) }}

-- Scoring rows of the reorder (churn) model: one per customer and as-of date with that
-- day's features, the customer's attributes and the label reordered_within_30d — did the
-- customer place an order that brings revenue (not cancelled or returned, the orders the
-- features count) in the 30 days strictly after the as-of date? The label is null while
-- its window is incomplete: as-of dates later than the newest order in the lake minus 30
-- days. Training (ml_business_training) keeps the rows with a label, so the rows a model
-- learns from and the rows it scores are built by this one query.
with features as (

    select * from {{ ref('int_features__customer_day') }}

),

orders as (

    select * from {{ ref('int_business__orders') }}

),

customers as (

    select * from {{ ref('stg_business__customers') }}

),

horizon as (

    select max(order_date) as newest_order_date from orders

),

labelled_window as (

    select
        f.customer_id,
        f.as_of_date,
        count(o.order_id) as orders_next_30d

    from features as f
    inner join orders as o
        on o.customer_id = f.customer_id
        and o.order_date > f.as_of_date
        and o.order_date <= {{ lakeops.add_days('f.as_of_date', 30) }}
        and o.is_revenue
    group by f.customer_id, f.as_of_date

),

final as (

    select
        f.customer_id,
        f.as_of_date,
        f.recency_days,
        f.frequency,
        f.monetary,
        f.orders_today,
        f.avg_order_value,
        f.avg_items_per_order,
        f.distinct_categories,
        f.first_order_date,
        c.segment,
        c.country,
        c.city,
        {{ lakeops.days_between('c.signup_date', 'f.as_of_date') }} as tenure_days,
        case
            when f.as_of_date <= {{ lakeops.add_days('h.newest_order_date', -30) }}
                then coalesce(l.orders_next_30d, 0) > 0
        end as reordered_within_30d

    from features as f
    cross join horizon as h
    left join labelled_window as l
        on l.customer_id = f.customer_id
        and l.as_of_date = f.as_of_date
    left join customers as c
        on c.customer_id = f.customer_id

)

select * from final
