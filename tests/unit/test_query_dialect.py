"""Dremio names and statements translated for DuckDB, without a server."""

from __future__ import annotations

import pytest

from lakeops.query.dialect import Dialect
from lakeops.query.errors import SQLRefused
from lakeops.query.grants import Grant
from lakeops.query.guard import check_references

TABLES = {("lakehouse", "curated", "business", "orders"): '"V_ORDERS"',
          ("lakehouse", "marts", "business_kpis_daily"): '"V_KPIS"'}
INFO = {"tables": '"I_TABLES"', "columns": '"I_COLUMNS"', "schemata": '"I_SCHEMATA"'}


@pytest.fixture
def dialect() -> Dialect:
    return Dialect(TABLES, INFO)


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT * FROM lakehouse.curated.business.orders",
     'SELECT * FROM "V_ORDERS"'),
    ('SELECT * FROM "lakehouse"."curated"."business"."Orders" o JOIN lakehouse.marts.'
     'business_kpis_daily k ON o.dt = k.day',
     'SELECT * FROM "V_ORDERS" AS o JOIN "V_KPIS" AS k ON o.dt = k.day'),
    ('SELECT * FROM "lakehouse.curated.business"."orders"', 'SELECT * FROM "V_ORDERS"'),
    # a column qualified by the full table path keeps its column part
    ("SELECT lakehouse.curated.business.orders.order_id FROM lakehouse.curated.business.orders",
     'SELECT "V_ORDERS"."order_id" FROM "V_ORDERS"'),
    # strings and comments are left alone (sqlglot writes a comment as /* ... */)
    ("SELECT 'lakehouse.curated.business.orders' AS s -- lakehouse.marts.x\nFROM "
     "lakehouse.marts.business_kpis_daily",
     "SELECT 'lakehouse.curated.business.orders' AS s /* lakehouse.marts.x */ FROM \"V_KPIS\""),
    ('SELECT TABLE_NAME FROM INFORMATION_SCHEMA."TABLES"', 'SELECT TABLE_NAME FROM "I_TABLES"'),
])
def test_table_paths_become_views(dialect: Dialect, sql: str, expected: str) -> None:
    assert dialect.translate(sql).sql == expected


def test_default_schema_resolves_names_where_a_table_stands(dialect: Dialect) -> None:
    out = dialect.translate("SELECT orders.x, orders FROM orders", "lakehouse.curated.business")
    assert out.sql == 'SELECT orders.x, orders FROM "V_ORDERS"'


def test_metadata_statements(dialect: Dialect) -> None:
    assert dialect.translate("SHOW SCHEMAS").show_schemas
    assert dialect.translate('DESCRIBE "lakehouse.marts"."business_kpis_daily"').describe \
        == '"V_KPIS"'
    assert dialect.translate("DESCRIBE TABLE lakehouse.curated.business.orders").describe \
        == '"V_ORDERS"'
    with pytest.raises(SQLRefused, match="not found"):
        dialect.translate("DESCRIBE lakehouse.marts.nope")


@pytest.mark.parametrize("sql", ["DROP TABLE x", "INSERT INTO x VALUES (1)", "SET threads=1",
                                 "PRAGMA version", "CALL pragma_version()", "LOAD httpfs",
                                 "SELECT 1; SELECT 2", "", "UPDATE t SET a = 1"])
def test_only_queries(dialect: Dialect, sql: str) -> None:
    with pytest.raises(SQLRefused):
        dialect.translate(sql)


# -- grants and DuckDB's own parse tree --------------------------------------------------

GRANTED = {("lakehouse", "curated", "business", "orders"): '"lakehouse.curated.business.orders"',
           ("lakehouse", "raw", "business", "orders"): '"lakehouse.raw.business.orders"'}
ANALYST = Grant("ana", "analyst", frozenset({"curated", "marts"}))


def _check(sql: str) -> str:
    import json

    import duckdb

    dialect = Dialect(GRANTED, INFO)
    statement = dialect.translate(sql, None, ANALYST)
    assert statement.sql is not None
    tree = duckdb.connect().execute("SELECT json_serialize_sql(?)", [statement.sql]).fetchone()
    assert tree is not None
    check_references(json.loads(tree[0]), dialect, ANALYST)
    return statement.sql


@pytest.mark.parametrize("sql", [
    "SELECT * FROM lakehouse.curated.business.orders",
    "WITH o AS (SELECT * FROM lakehouse.curated.business.orders) SELECT count(*) FROM o",
    "SELECT * FROM range(3) r, unnest([1, 2]) u",
    "SELECT * FROM (VALUES (1)) v(a) JOIN lakehouse.curated.business.orders o ON true",
    "SELECT * FROM lakehouse.curated.business.orders PIVOT (count(*) FOR status IN ('a'))",
    'SELECT * FROM INFORMATION_SCHEMA."TABLES"',
])
def test_granted_queries_pass(sql: str) -> None:
    _check(sql)


@pytest.mark.parametrize(("sql", "says"), [
    ("SELECT * FROM lakehouse.raw.business.orders", "not granted: .*'raw' zone.*'analyst'"),
    ('SELECT * FROM "lakehouse.raw.business.orders"', "not granted: .*'raw' zone"),
    ("SELECT (SELECT max(1) FROM lakehouse.raw.business.orders)", "not granted"),
    ("SELECT * FROM read_csv('landing/x.csv')", "not granted: read_csv\\(\\) reads files"),
    ("SELECT * FROM 'landing/x.csv'", "names a file"),
    ("SELECT * FROM parquet_scan('x.parquet')", "not granted: parquet_scan"),
    ("SELECT 1 WHERE 1 IN (SELECT count(*) FROM glob('*'))", "not granted: glob"),
    ("SELECT * FROM query('SELECT 1')", "query\\(\\) is not available"),
    ("SELECT * FROM duckdb_tables()", "duckdb_tables\\(\\) is not available"),
    ("SELECT * FROM main.anything", "not found"),
    ("SELECT * FROM pg_catalog.pg_class", "not found"),
    ('WITH "lakehouse.curated.business.orders" AS (SELECT 1) SELECT 1', "may not be named"),
])
def test_everything_else_is_refused(sql: str, says: str) -> None:
    with pytest.raises(SQLRefused, match=says):
        _check(sql)
