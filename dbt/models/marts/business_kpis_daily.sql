{{ config(location=lakeops.mart_location()) }}

-- One row per day with orders: revenue, order counts, average order value, the share of
-- ordering customers who had ordered before, sign-ups and payments.
with orders as (

    select * from {{ ref('int_business__orders') }}

),

customers as (

    select * from {{ ref('stg_business__customers') }}

),

payments as (

    select * from {{ ref('stg_business__payments') }}

),

daily_orders as (

    select
        order_date,
        count(*) as orders,
        sum(case when is_revenue then 1 else 0 end) as revenue_orders,
        sum(case when order_status = 'cancelled' then 1 else 0 end) as cancelled_orders,
        sum(case when order_status = 'returned' then 1 else 0 end) as returned_orders,
        sum(case when is_revenue then order_total else 0 end) as revenue,
        sum(case when is_revenue then units else 0 end) as units_sold,
        count(distinct customer_id) as customers,
        count(distinct case when is_repeat_order then customer_id end) as repeat_customers

    from orders
    group by order_date

),

signups as (

    select signup_date, count(*) as new_customers
    from customers
    group by signup_date

),

daily_payments as (

    select
        cast(paid_at as date) as paid_on,
        sum(case when payment_status = 'captured' then amount else 0 end) as captured,
        sum(case when payment_status = 'refunded' then amount else 0 end) as refunded

    from payments
    group by cast(paid_at as date)

),

final as (

    select
        o.order_date,
        {{ lakeops.week_start('o.order_date') }} as week_start,
        cast(o.orders as bigint) as orders,
        cast(o.revenue_orders as bigint) as revenue_orders,
        cast(o.cancelled_orders as bigint) as cancelled_orders,
        cast(o.returned_orders as bigint) as returned_orders,
        cast(o.revenue as decimal(18, 2)) as revenue,
        {{ lakeops.ratio('o.revenue', 'o.revenue_orders') }} as average_order_value,
        cast(o.units_sold as bigint) as units_sold,
        cast(o.customers as bigint) as customers,
        cast(o.repeat_customers as bigint) as repeat_customers,
        {{ lakeops.ratio('o.repeat_customers', 'o.customers') }} as repeat_customer_rate,
        cast(coalesce(s.new_customers, 0) as bigint) as new_customers,
        cast(coalesce(p.captured, 0) as decimal(18, 2)) as payments_captured,
        cast(coalesce(p.refunded, 0) as decimal(18, 2)) as payments_refunded

    from daily_orders as o
    left join signups as s
        on s.signup_date = o.order_date
    left join daily_payments as p
        on p.paid_on = o.order_date

)

select * from final
