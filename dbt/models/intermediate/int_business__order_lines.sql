-- One row per order line with the product's category (from the current catalogue) and the
-- order's date and status.
with order_items as (

    select * from {{ ref('stg_business__order_items') }}

),

orders as (

    select * from {{ ref('int_business__orders') }}

),

products as (

    select * from {{ ref('stg_business__products') }}

),

lines as (

    select
        i.order_id,
        i.line_number,
        i.product_id,
        coalesce(p.category, 'unknown') as category,
        o.order_date,
        o.order_status,
        o.is_revenue,
        i.quantity,
        i.unit_price,
        i.line_amount

    from order_items as i
    inner join orders as o
        on o.order_id = i.order_id
    left join products as p
        on p.product_id = i.product_id

)

select * from lines
