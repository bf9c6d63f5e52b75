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


{#- The partitions a run reads: those up to LAKEOPS_DBT_AS_OF, the newest day every source
    had published when the run started (set by lakeops.transform.dbt; unset: all of them).
    A day published while the run goes on is left for the next run, so every model of one
    run sees the same data. Rows without a partition (unit-test fixtures) pass. -#}
{% macro published_as_of() -%}
    {%- set as_of = env_var('LAKEOPS_DBT_AS_OF', '') -%}
    {%- if as_of -%}
        ({{ lakeops.partition_date() }} is null
         or {{ lakeops.partition_date() }} <= cast('{{ as_of }}' as date))
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#- The newest daily partition (as of the run) of a snapshot table, redelivered whole daily.
    The condition sits inside max(): DuckDB 1.5.5 answers max(dt) of a hive-partitioned scan
    from partition statistics and fails ("INTERNAL Error: Attempted to access index ...")
    when a filter on dt sits beside it. -#}
{% macro is_latest_partition(relation) -%}
    {#- never a constant condition: without LAKEOPS_DBT_AS_OF, `case when true` folds back
        to max(dt), which fails as above (seen on a source with one partition) -#}
    {%- set as_of = env_var('LAKEOPS_DBT_AS_OF', '') or '9999-12-31' -%}
    {{ lakeops.partition_date() }} = (
        select max(case when {{ lakeops.partition_date() }} is null
                             or {{ lakeops.partition_date() }} <= cast('{{ as_of }}' as date)
                        then {{ lakeops.partition_date() }} end)
        from {{ relation }}
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
