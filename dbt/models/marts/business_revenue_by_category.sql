{{ config(location=lakeops.mart_location()) }}

-- Revenue per day and product category (order lines of orders that bring revenue: not
-- cancelled, not returned), with each category's share of the day.
with lines as (

    select * from {{ ref('int_business__order_lines') }}
    where is_revenue

),

by_category as (

    select
        order_date,
        category,
        count(distinct order_id) as orders,
        sum(quantity) as units,
        sum(line_amount) as revenue

    from lines
    group by order_date, category

),

by_day as (

    select order_date, sum(revenue) as day_revenue
    from by_category
    group by order_date

),

final as (

    select
        c.order_date,
        c.category,
        cast(c.orders as bigint) as orders,
        cast(c.units as bigint) as units,
        cast(c.revenue as decimal(18, 2)) as revenue,
        {{ lakeops.ratio('c.revenue', 'c.units') }} as average_unit_price,
        {{ lakeops.ratio('c.revenue', 'd.day_revenue') }} as revenue_share

    from by_category as c
    inner join by_day as d
        on d.order_date = c.order_date

)

select * from final
