-- One row per submission, with the assessment it answers and how late it came.
with submissions as (

    select * from {{ ref('stg_education__student_assessment') }}

),

assessments as (

    select * from {{ ref('stg_education__assessments') }}

),

joined as (

    select
        a.code_module,
        a.code_presentation,
        s.assessment_id,
        s.student_id,
        a.assessment_type,
        a.cutoff_day,
        a.weight_pct,
        s.submitted_day,
        s.is_banked,
        s.score,
        -- days after the cut-off (negative = early); unknown for exams without a date
        s.submitted_day - a.cutoff_day as lateness_days,
        coalesce(s.submitted_day > a.cutoff_day, false) as is_late,
        case when s.score is not null then s.score >= 40 end as is_passed

    from submissions as s
    inner join assessments as a
        on a.assessment_id = s.assessment_id

)

select * from joined
