-- assessments is redelivered whole every day: keep the newest partition only
with source as (

    select * from {{ source('education', 'assessments') }}
    where {{ lakeops.is_latest_partition(source('education', 'assessments')) }}
      and {{ lakeops.published_as_of() }}

),

renamed as (

    select
        cast(id_assessment as bigint) as assessment_id,
        cast(code_module as varchar) as code_module,
        cast(code_presentation as varchar) as code_presentation,
        cast(assessment_type as varchar) as assessment_type,
        cast({{ adapter.quote('date') }} as integer) as cutoff_day,
        cast(weight as double) as weight_pct,
        cast({{ lakeops.partition_date() }} as date) as delivered_on

    from source

)

select * from renamed
