with source as (

    select * from {{ source('business', 'customers') }}
    where {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(customer_id as bigint) as customer_id,
        cast(email_hash as varchar) as email_hash,
        cast(date_of_birth_year as integer) as birth_year,
        cast(city as varchar) as city,
        cast(postcode_hash as varchar) as postcode_hash,
        cast(country as varchar) as country,
        cast(signup_date as date) as signup_date,
        cast(segment as varchar) as segment,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
