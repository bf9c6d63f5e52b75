-- Every as-of date of ml_business_training has its whole 30-day label window inside the
-- order history: at least 30 days before the newest order date.
select t.customer_id, t.as_of_date
from {{ ref('ml_business_training') }} as t
cross join (select max(order_date) as newest from {{ ref('stg_business__orders') }}) as h
where t.as_of_date > {{ lakeops.add_days('h.newest', -30) }}
