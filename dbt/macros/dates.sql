{#- Date and day arithmetic that engines spell (or round) differently. -#}

{#- OULAD week of a day relative to the presentation start: floor(day / 7), so days -7..-1
    are week -1. DuckDB's integer `//` truncates towards zero (-3 // 7 = 0), and Dremio's
    integer `/` does too, hence the explicit floor over a fractional division. -#}
{% macro relative_week(day) -%}
    {{ return(adapter.dispatch('relative_week', 'lakeops')(day)) }}
{%- endmacro %}

{% macro duckdb__relative_week(day) -%}
    cast(floor({{ day }} / 7) as integer)
{%- endmacro %}

{% macro dremio__relative_week(day) -%}
    cast(floor(cast({{ day }} as double) / 7) as integer)
{%- endmacro %}

{% macro default__relative_week(day) -%}
    cast(floor(cast({{ day }} as double precision) / 7) as integer)
{%- endmacro %}


{#- Monday of the ISO week of a date. -#}
{% macro week_start(date_expr) -%}
    {{ return(adapter.dispatch('week_start', 'lakeops')(date_expr)) }}
{%- endmacro %}

{% macro duckdb__week_start(date_expr) -%}
    cast(date_trunc('week', {{ date_expr }}) as date)
{%- endmacro %}

{% macro dremio__week_start(date_expr) -%}
    cast(date_trunc('WEEK', cast({{ date_expr }} as timestamp)) as date)
{%- endmacro %}

{% macro default__week_start(date_expr) -%}
    cast({{ dbt.date_trunc('week', date_expr) }} as date)
{%- endmacro %}


{#- A date plus a (possibly negative) number of days, as a date. -#}
{% macro add_days(date_expr, days) -%}
    {{ return(adapter.dispatch('add_days', 'lakeops')(date_expr, days)) }}
{%- endmacro %}

{% macro duckdb__add_days(date_expr, days) -%}
    cast(cast({{ date_expr }} as date) + cast({{ days }} as integer) as date)
{%- endmacro %}

{% macro dremio__add_days(date_expr, days) -%}
    date_add(cast({{ date_expr }} as date), cast({{ days }} as integer))
{%- endmacro %}

{% macro default__add_days(date_expr, days) -%}
    cast({{ dbt.dateadd('day', days, date_expr) }} as date)
{%- endmacro %}


{#- Whole days from start_date to end_date (positive when end_date is later). -#}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'lakeops')(start_date, end_date)) }}
{%- endmacro %}

{% macro duckdb__days_between(start_date, end_date) -%}
    date_diff('day', cast({{ start_date }} as date), cast({{ end_date }} as date))
{%- endmacro %}

{% macro dremio__days_between(start_date, end_date) -%}
    timestampdiff(day, cast({{ start_date }} as date), cast({{ end_date }} as date))
{%- endmacro %}

{% macro default__days_between(start_date, end_date) -%}
    {{ dbt.datediff(start_date, end_date, 'day') }}
{%- endmacro %}


{#- numerator / denominator as a double; NULL when the denominator is 0 or NULL. -#}
{% macro ratio(numerator, denominator) -%}
    case when {{ denominator }} is null or {{ denominator }} = 0 then null
         else cast({{ numerator }} as double) / {{ denominator }} end
{%- endmacro %}
