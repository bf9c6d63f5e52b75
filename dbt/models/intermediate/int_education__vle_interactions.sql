-- The clickstream with each material's activity type and the OULAD week of the day.
with student_vle as (

    select * from {{ ref('stg_education__student_vle') }}

),

vle as (

    select * from {{ ref('stg_education__vle') }}

),

interactions as (

    select
        s.code_module,
        s.code_presentation,
        s.student_id,
        s.site_id,
        s.activity_day,
        {{ lakeops.relative_week('s.activity_day') }} as week,
        coalesce(v.activity_type, 'unknown') as activity_type,
        s.clicks

    from student_vle as s
    left join vle as v
        on v.site_id = s.site_id

)

select * from interactions
