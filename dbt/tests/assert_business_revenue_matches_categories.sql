{{ config(severity="warn") }}
-- The category breakdown adds up to the daily revenue (line amounts sum to order totals).
select d.order_date, d.revenue, c.revenue as category_revenue
from {{ ref('business_kpis_daily') }} as d
left join (
    select order_date, sum(revenue) as revenue
    from {{ ref('business_revenue_by_category') }}
    group by order_date
) as c
    on c.order_date = d.order_date
where coalesce(c.revenue, 0) <> d.revenue
