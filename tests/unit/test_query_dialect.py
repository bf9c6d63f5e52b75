"""Dremio names and statements translated for DuckDB, without a server."""

from __future__ import annotations

import pytest

from lakeops.query.dialect import Dialect, SQLRefused

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
     'SELECT * FROM "V_ORDERS" o JOIN "V_KPIS" k ON o.dt = k.day'),
    ('SELECT * FROM "lakehouse.curated.business"."orders"', 'SELECT * FROM "V_ORDERS"'),
    # a column qualified by the full table path keeps its column part
    ("SELECT lakehouse.curated.business.orders.order_id FROM lakehouse.curated.business.orders",
     'SELECT "V_ORDERS"."order_id" FROM "V_ORDERS"'),
    # strings and comments are left alone
    ("SELECT 'lakehouse.curated.business.orders' AS s -- lakehouse.marts.x\nFROM "
     "lakehouse.marts.business_kpis_daily",
     "SELECT 'lakehouse.curated.business.orders' AS s -- lakehouse.marts.x\nFROM \"V_KPIS\""),
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
