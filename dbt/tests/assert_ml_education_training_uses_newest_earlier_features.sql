-- Point-in-time check of ml_education_training: every row holds a feature row from on or
-- before its prediction day, and no newer feature row of the student existed by then.
select t.code_module, t.code_presentation, t.student_id, t.prediction_day
from {{ ref('ml_education_training') }} as t
where t.feature_as_of_day > t.prediction_day
   or exists (
        select 1
        from {{ ref('int_features__student_week') }} as f
        where f.code_module = t.code_module
          and f.code_presentation = t.code_presentation
          and f.student_id = t.student_id
          and f.as_of_day > t.feature_as_of_day
          and f.as_of_day <= t.prediction_day
   )
