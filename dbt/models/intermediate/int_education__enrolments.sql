-- One row per student and module presentation: the current registration state (the latest
-- delivered record of the key, so a withdrawal sent later wins) with the student's
-- demographics and final result.
with registrations as (

    select * from {{ ref('stg_education__student_registration') }}

),

student_info as (

    select * from {{ ref('stg_education__student_info') }}

),

latest_registration as (

    select
        *,
        row_number() over (
            partition by code_module, code_presentation, student_id
            order by delivered_on desc,
                case when unregistered_day is null then 1 else 0 end,
                unregistered_day desc
        ) as recency

    from registrations

),

latest_info as (

    select
        *,
        row_number() over (
            partition by code_module, code_presentation, student_id
            order by delivered_on desc
        ) as recency

    from student_info

),

enrolments as (

    select
        r.code_module,
        r.code_presentation,
        r.student_id,
        r.registered_day,
        r.unregistered_day,
        -- OULAD weeks; registrations before the start count from week 0
        greatest({{ lakeops.relative_week('coalesce(r.registered_day, 0)') }}, 0)
            as registration_week,
        case when r.unregistered_day is not null
            then greatest({{ lakeops.relative_week('r.unregistered_day') }}, 0)
        end as withdrawal_week,
        r.unregistered_day is not null as is_withdrawn,
        i.gender,
        i.region,
        i.highest_education,
        coalesce(i.imd_band, 'unknown') as imd_band,
        i.age_band,
        i.previous_attempts,
        i.studied_credits,
        i.disability,
        i.final_result,
        i.final_result is not null as is_result_known,
        coalesce(i.final_result in ('Pass', 'Distinction'), false) as is_completed,
        coalesce(i.final_result in ('Withdrawn', 'Fail'), false) as is_at_risk

    from latest_registration as r
    left join latest_info as i
        on i.code_module = r.code_module
        and i.code_presentation = r.code_presentation
        and i.student_id = r.student_id
        and i.recency = 1
    where r.recency = 1

)

select * from enrolments
