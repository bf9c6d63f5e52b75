{#- Where lake data comes from and where marts go. -#}

{% macro partition_date() -%}
    {{ return(adapter.dispatch('partition_date', 'lakeops')()) }}
{%- endmacro %}

{#- DuckDB reads the lake with hive_partitioning: the dt=YYYY-MM-DD folder is a DATE column. -#}
{% macro duckdb__partition_date() -%}
    dt
{%- endmacro %}

{#- Dremio promotes the partition folders as dir0 = 'dt=YYYY-MM-DD'. -#}
{% macro dremio__partition_date() -%}
    cast(substr(dir0, 4) as date)
{%- endmacro %}

{% macro default__partition_date() -%}
    dt
{%- endmacro %}


{#- The newest daily partition of a snapshot table (redelivered whole every day). -#}
{% macro is_latest_partition(relation) -%}
    {{ lakeops.partition_date() }} = (
        select max({{ lakeops.partition_date() }}) from {{ relation }}
    )
{%- endmacro %}


{#- One Parquet file per mart, replaced on every run: <lake>/marts/<model>/part-0.parquet -#}
{% macro mart_location() -%}
    {{ return(env_var('LAKEOPS_LAKE') ~ '/marts/' ~ model.name ~ '/part-0.parquet') }}
{%- endmacro %}


{#- Post-hook of the marts. dbt-duckdb's external materialization writes one all-NULL row
    when a model returns no rows, so that CSV and JSON files keep their columns; the view dbt
    puts over the file hides it, but anyone reading the Parquet file directly would count a
    row of NULLs. Parquet keeps its schema without rows, so write a truly empty file. -#}
{% macro empty_external_file() -%}
    {%- if execute and target.type == 'duckdb' and config.get('materialized') == 'external' -%}
        {%- set counted = run_query('select count(*) from ' ~ this) -%}
        {%- if counted.columns[0].values()[0] == 0 -%}
            create or replace temporary table lakeops_empty_mart as
                select * from {{ this }} limit 0;
            copy lakeops_empty_mart to '{{ config.get("location") }}' (format parquet);
            drop table lakeops_empty_mart
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
