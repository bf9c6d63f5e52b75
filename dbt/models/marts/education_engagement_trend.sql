{{ config(location=lakeops.mart_location()) }}

-- Clicks per module presentation, week and VLE activity type, with the week-on-week change
-- and a trailing three-week average: where engagement rises or falls, and in what.
with interactions as (

    select * from {{ ref('int_education__vle_interactions') }}

),

weekly as (

    select
        code_module,
        code_presentation,
        greatest(week, 0) as week,
        activity_type,
        sum(clicks) as clicks,
        count(distinct student_id) as active_students

    from interactions
    group by code_module, code_presentation, greatest(week, 0), activity_type

),

week_totals as (

    select
        code_module,
        code_presentation,
        week,
        sum(clicks) as week_clicks

    from weekly
    group by code_module, code_presentation, week

),

trailing_weeks as (

    -- weeks without clicks count as 0; week 0 and 1 average over the weeks they have
    select
        w.code_module,
        w.code_presentation,
        w.week,
        w.activity_type,
        sum(t.clicks) as clicks_3w

    from weekly as w
    inner join weekly as t
        on t.code_module = w.code_module
        and t.code_presentation = w.code_presentation
        and t.activity_type = w.activity_type
        and t.week between w.week - 2 and w.week
    group by w.code_module, w.code_presentation, w.week, w.activity_type

),

final as (

    select
        w.code_module,
        w.code_presentation,
        w.week,
        w.activity_type,
        cast(w.clicks as bigint) as clicks,
        cast(w.active_students as bigint) as active_students,
        {{ lakeops.ratio('w.clicks', 'w.active_students') }} as clicks_per_active_student,
        {{ lakeops.ratio('w.clicks', 'wt.week_clicks') }} as share_of_week_clicks,
        cast(coalesce(p.clicks, 0) as bigint) as clicks_previous_week,
        {{ lakeops.ratio('w.clicks - p.clicks', 'p.clicks') }} as clicks_change_rate,
        {{ lakeops.ratio('tr.clicks_3w', 'least(w.week + 1, 3)') }} as clicks_trailing_3w_avg

    from weekly as w
    inner join week_totals as wt
        on wt.code_module = w.code_module
        and wt.code_presentation = w.code_presentation
        and wt.week = w.week
    inner join trailing_weeks as tr
        on tr.code_module = w.code_module
        and tr.code_presentation = w.code_presentation
        and tr.week = w.week
        and tr.activity_type = w.activity_type
    left join weekly as p
        on p.code_module = w.code_module
        and p.code_presentation = w.code_presentation
        and p.activity_type = w.activity_type
        and p.week = w.week - 1

)

select * from final
