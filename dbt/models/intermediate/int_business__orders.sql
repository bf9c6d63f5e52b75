-- One row per order with its items summed and the customer's order sequence: the n-th
-- order of a customer (by time, then id) is a repeat order when n > 1.
with orders as (

    select * from {{ ref('stg_business__orders') }}

),

order_items as (

    select * from {{ ref('stg_business__order_items') }}

),

items_per_order as (

    select
        order_id,
        count(*) as line_count,
        sum(quantity) as units

    from order_items
    group by order_id

),

sequenced as (

    select
        o.order_id,
        o.customer_id,
        o.ordered_at,
        o.order_date,
        o.order_status,
        o.channel,
        o.currency,
        o.order_total,
        coalesce(i.line_count, 0) as line_count,
        coalesce(i.units, 0) as units,
        -- cancelled and returned orders bring no revenue
        o.order_status not in ('cancelled', 'returned') as is_revenue,
        row_number() over (
            partition by o.customer_id order by o.ordered_at, o.order_id
        ) as customer_order_number

    from orders as o
    left join items_per_order as i
        on i.order_id = o.order_id

),

final as (

    select
        *,
        customer_order_number > 1 as is_repeat_order

    from sequenced

)

select * from final
