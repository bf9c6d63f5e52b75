"""Dremio functions as Superset and its users send them, run end to end on the embedded
endpoint's engine (translate, DuckDB's parse-tree check, a query slot), each result
compared with what Dremio returns for the same statement (worked out by hand from
Dremio's documented semantics)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakeops.core.settings import Settings
from lakeops.query.engine import LakeSQL
from lakeops.query.errors import SQLRefused
from lakeops.query.formats import duckdb_format
from lakeops.storage.lake import Lake

D = dt.date(2024, 10, 3)  # a Thursday, day 277 of 2024, ISO week 40
TS = dt.datetime(2024, 10, 3, 14, 5, 9, 123000)
DAYS = [dt.date(2024, 9, 28) + dt.timedelta(days=i) for i in range(12)]  # 09-28 .. 10-09
EVENTS = [dt.datetime(2024, 9, 30, 23, 59, 59, 999000), dt.datetime(2024, 10, 1),
          dt.datetime(2024, 10, 1, 12), dt.datetime(2024, 10, 2, 8, 30, 15, 500000),
          dt.datetime(2024, 10, 3)]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LakeSQL]:
    """The endpoint's engine over a tiny lake: one row of every type, daily KPIs, events."""
    home: Path = tmp_path_factory.mktemp("dremio-functions") / "home"
    settings = Settings(home=home, sql_max_concurrent=1)
    lake = Lake.from_settings(settings)
    lake.write_table("marts/samples/part-0.parquet", pa.table({
        "d": pa.array([D], pa.date32()), "ts": pa.array([TS], pa.timestamp("us")),
        "s": ["Lakehouse"], "n": [1234.5678], "i": pa.array([7], pa.int32()),
        "nul": pa.array([None], pa.string()), "epoch": [1700000000]}))
    lake.write_table("marts/business_kpis_daily/part-0.parquet", pa.table({
        "order_date": pa.array(DAYS, pa.date32()),
        "region": ["north", "south", "north"] * 4,
        "revenue": [float(day.day * 10) for day in DAYS]}))
    lake.write_table("marts/order_events/part-0.parquet", pa.table({
        "event_ts": pa.array(EVENTS, pa.timestamp("us")), "order_id": [1, 2, 3, 4, 5]}))
    yield LakeSQL(settings)


def run(engine: LakeSQL, sql: str) -> list[tuple[Any, ...]]:
    """The statement as the Flight server runs it, for the analyst role Superset uses."""
    grant = engine.grants[engine.settings.flight_user]
    statement = engine.plan(sql, None, grant)
    table = engine.reader(statement).read_all()
    return [tuple(row.values()) for row in table.to_pylist()]


def value(engine: LakeSQL, expression: str) -> Any:
    rows = run(engine, f"SELECT {expression} AS v FROM lakehouse.marts.samples")
    assert len(rows) == 1
    return rows[0][0]


SCALARS = [
    # -- parsing dates and timestamps (Superset's time-range filters) ---------------------
    ("TO_DATE('2024-10-01', 'YYYY-MM-DD')", dt.date(2024, 10, 1)),
    ("TO_DATE('01/10/2024', 'DD/MM/YYYY')", dt.date(2024, 10, 1)),
    ("TO_DATE('03-Oct-2024', 'DD-MON-YYYY')", D),
    ("TO_DATE('2024.10.03', 'yyyy.mm.dd')", D),  # elements are case-insensitive
    ("TO_DATE('nonsense', 'YYYY-MM-DD', 1)", None),  # replaceErrorWithNull
    ("TO_TIMESTAMP('2024-10-01 00:00:00.000', 'YYYY-MM-DD HH24:MI:SS.FFF')",
     dt.datetime(2024, 10, 1)),
    ("TO_TIMESTAMP('2024-10-01 13:45:30.250', 'YYYY-MM-DD HH24:MI:SS.FFF')",
     dt.datetime(2024, 10, 1, 13, 45, 30, 250000)),
    ("TO_TIMESTAMP('10/01/2024 01:45 PM', 'MM/DD/YYYY HH:MI AM')",
     dt.datetime(2024, 10, 1, 13, 45)),
    ("TO_TIMESTAMP(1700000000)", dt.datetime(2023, 11, 14, 22, 13, 20)),  # epoch s, UTC
    ("TO_TIMESTAMP(epoch)", dt.datetime(2023, 11, 14, 22, 13, 20)),
    ("TO_TIME('13:45:30', 'HH24:MI:SS')", dt.time(13, 45, 30)),
    # -- formatting dates and timestamps --------------------------------------------------
    ("TO_CHAR(d, 'YYYY-MM')", "2024-10"),
    ("TO_CHAR(d, 'DD/MM/YYYY')", "03/10/2024"),
    ("TO_CHAR(d, 'Mon DD, YYYY')", "Oct 03, 2024"),
    ("TO_CHAR(d, 'MONTH YYYY')", "October 2024"),
    ("TO_CHAR(d, 'DAY')", "Thursday"),
    ("TO_CHAR(d, 'DY')", "Thu"),
    ("TO_CHAR(d, 'DDD')", "277"),
    ("TO_CHAR(d, 'D')", "4"),  # ISO day of week: Monday = 1
    ("TO_CHAR(d, 'WW')", "40"),  # ISO week
    ("TO_CHAR(d, '\"Q4\" YYYY')", "Q4 2024"),  # quoted text is literal
    ("TO_CHAR(ts, 'YYYY-MM-DD HH24:MI:SS.FFF')", "2024-10-03 14:05:09.123"),
    ("TO_CHAR(ts, 'HH12:MI AM')", "02:05 PM"),
    ("TO_CHAR(ts, 'yyyy.mm.dd')", "2024.10.03"),
    # -- formatting numbers (Java DecimalFormat patterns) ---------------------------------
    ("TO_CHAR(n, '#,##0.00')", "1,234.57"),
    ("TO_CHAR(7.5, '#.#')", "7.5"),
    ("TO_CHAR(10, '#')", "10"),
    ("TO_CHAR(0.5, '#.##')", ".5"),
    ("TO_CHAR(3.14159, '0.000')", "3.142"),
    ("TO_NUMBER('12.5', '##.#')", 12.5),
    # -- nulls and conditions -------------------------------------------------------------
    ("NVL(nul, 'none')", "none"),
    ("NVL(s, 'none')", "Lakehouse"),
    ("COALESCE(nul, nul, 'x')", "x"),
    ("NULLIF(i, 7)", None),
    ("CASE WHEN i > 5 THEN 'big' ELSE 'small' END", "big"),
    ("GREATEST(1, 5, 3)", 5),
    # -- time grains (Superset's DATE_TRUNC): a DATE stays a DATE -------------------------
    ("DATE_TRUNC('day', ts)", dt.datetime(2024, 10, 3)),
    ("DATE_TRUNC('hour', ts)", dt.datetime(2024, 10, 3, 14)),
    ("DATE_TRUNC('week', d)", dt.date(2024, 9, 30)),  # weeks start on Monday
    ("DATE_TRUNC('month', d)", dt.date(2024, 10, 1)),
    ("DATE_TRUNC('quarter', d)", dt.date(2024, 10, 1)),
    ("DATE_TRUNC('year', d)", dt.date(2024, 1, 1)),
    ("DATE_TRUNC('month', ts)", dt.datetime(2024, 10, 1)),
    # -- date parts -----------------------------------------------------------------------
    ("EXTRACT(YEAR FROM d)", 2024),
    ("EXTRACT(MONTH FROM ts)", 10),
    ("EXTRACT(HOUR FROM ts)", 14),
    ("EXTRACT(DOW FROM d)", 5),  # Sunday = 1
    ("DAYOFWEEK(d)", 5),
    ("EXTRACT(DOY FROM d)", 277),
    ("EXTRACT(WEEK FROM d)", 40),
    ("EXTRACT(QUARTER FROM d)", 4),
    ("DATE_PART('day', d)", 3),
    ("YEAR(d)", 2024),
    ("CAST(ts AS DATE)", D),
    ("CAST('2024-10-01' AS DATE)", dt.date(2024, 10, 1)),
    # -- date arithmetic ------------------------------------------------------------------
    ("DATE_ADD(d, 5)", dt.date(2024, 10, 8)),
    ("DATE_SUB(d, 3)", dt.date(2024, 9, 30)),
    ("DATE_DIFF(d, 3)", dt.date(2024, 9, 30)),  # Dremio: the date 3 days earlier
    ("DATE_ADD(d, CAST(1 AS INTERVAL MONTH))", dt.datetime(2024, 11, 3)),
    ("DATE_ADD(ts, CAST(2 AS INTERVAL HOUR))", dt.datetime(2024, 10, 3, 16, 5, 9, 123000)),
    ("DATEDIFF(d, DATE '2024-09-01')", 32),
    ("TIMESTAMPADD(DAY, 2, d)", dt.date(2024, 10, 5)),
    ("TIMESTAMPDIFF(DAY, d, DATE '2024-10-10')", 7),
    ("TIMESTAMPDIFF(MONTH, DATE '2024-01-15', DATE '2024-03-14')", 1),  # whole months
    ("d + INTERVAL '1' DAY", dt.date(2024, 10, 4)),
    ("d - INTERVAL '1' MONTH", dt.date(2024, 9, 3)),
    ("ts + INTERVAL '30' MINUTE", dt.datetime(2024, 10, 3, 14, 35, 9, 123000)),
    # -- strings --------------------------------------------------------------------------
    ("CONCAT(s, '-', i)", "Lakehouse-7"),
    ("CONCAT(s, nul)", "Lakehouse"),  # Dremio's CONCAT skips nulls
    ("s || '!'", "Lakehouse!"),
    ("LENGTH(s)", 9),
    ("CHAR_LENGTH(s)", 9),
    ("SUBSTR(s, 1, 4)", "Lake"),
    ("SUBSTRING(s, 5)", "house"),
    ("SUBSTRING(s FROM 5 FOR 3)", "hou"),
    ("UPPER(s)", "LAKEHOUSE"),
    ("LOWER(s)", "lakehouse"),
    ("TRIM('  x  ')", "x"),
    ("REPLACE(s, 'house', 'side')", "Lakeside"),
    ("LPAD('7', 3, '0')", "007"),
    ("POSITION('house' IN s)", 5),
    ("LEFT(s, 4)", "Lake"),
    ("RIGHT(s, 5)", "house"),
    ("REVERSE(s)", "esuohekaL"),
    ("s LIKE 'Lake%'", True),
    ("s ILIKE 'lake%'", True),
    # -- regular expressions: REGEXP_LIKE matches the whole string, as Java's matches() --
    ("REGEXP_LIKE(s, 'Lake.*')", True),
    ("REGEXP_LIKE(s, 'house')", False),
    ("REGEXP_LIKE(s, '.*?\\Qhouse\\E.*?')", True),
    ("REGEXP_MATCHES(s, 'L.*e')", True),
    ("REGEXP_REPLACE(s, '[aeiou]', '_')", "L_k_h__s_"),
    ("REGEXP_EXTRACT(s, '(Lake)(house)', 2)", "house"),
    # -- numbers --------------------------------------------------------------------------
    ("ROUND(n, 2)", 1234.57),
    ("ROUND(2.5)", 3),
    ("TRUNCATE(n, 1)", 1234.5),
    ("TRUNC(n)", 1234),
    ("FLOOR(n)", 1234),
    ("CEIL(n)", 1235),
    ("ABS(-3)", 3),
    ("MOD(10, 3)", 1),
    ("POWER(2, 10)", 1024),
    ("CAST(i AS VARCHAR)", "7"),
    ("CAST('12' AS INTEGER)", 12),
    ("CAST(n AS DECIMAL(10, 2))", Decimal("1234.57")),
]


@pytest.mark.parametrize(("expression", "expected"), SCALARS, ids=[s[0] for s in SCALARS])
def test_function_returns_what_dremio_returns(engine: LakeSQL, expression: str,
                                              expected: Any) -> None:
    got = value(engine, expression)
    assert got == expected
    assert _kind(got) == _kind(expected)


def _kind(v: Any) -> str:
    """The SQL type family of a result: a DATE must not come back as a TIMESTAMP."""
    for kind in (bool, dt.datetime, dt.date, dt.time, str):
        if isinstance(v, kind):
            return kind.__name__
    return "number" if isinstance(v, (int, float, Decimal)) else type(v).__name__


KPIS = "lakehouse.marts.business_kpis_daily"


@pytest.mark.parametrize(("sql", "expected"), [
    (f"SELECT COUNT(DISTINCT region) FROM {KPIS}", [(2,)]),
    (f"SELECT LISTAGG(region, ',') WITHIN GROUP (ORDER BY order_date) FROM {KPIS} "
     "WHERE order_date <= DATE '2024-09-30'", [("north,south,north",)]),
    (f"SELECT order_date, ROW_NUMBER() OVER (PARTITION BY region ORDER BY revenue DESC) "
     f"AS rn FROM {KPIS} WHERE region = 'south' ORDER BY rn LIMIT 2",
     [(dt.date(2024, 9, 29), 1), (dt.date(2024, 10, 8), 2)]),
    (f"SELECT order_date FROM {KPIS} ORDER BY order_date LIMIT 2 OFFSET 3",
     [(dt.date(2024, 10, 1),), (dt.date(2024, 10, 2),)]),
    (f"SELECT order_date FROM {KPIS} ORDER BY order_date OFFSET 3 ROWS "
     "FETCH FIRST 2 ROWS ONLY", [(dt.date(2024, 10, 1),), (dt.date(2024, 10, 2),)]),
    (f"SELECT order_date FROM {KPIS} ORDER BY order_date FETCH FIRST 1 ROW ONLY",
     [(dt.date(2024, 9, 28),)]),
    (f"SELECT region, SUM(revenue) AS total FROM {KPIS} GROUP BY region "
     "HAVING SUM(revenue) > 600 ORDER BY region", [("north", 880.0)]),
])
def test_queries_return_what_dremio_returns(engine: LakeSQL, sql: str,
                                            expected: list[tuple[Any, ...]]) -> None:
    assert run(engine, sql) == expected


def test_superset_time_series_on_a_date_column(engine: LakeSQL) -> None:
    """Superset's weekly chart: a DATE time-range filter (TO_DATE with Dremio's format)
    and the week grain; a week starts on Monday and stays a DATE."""
    sql = ("SELECT DATE_TRUNC('week', order_date) AS __timestamp, SUM(revenue) AS "
           '"SUM(revenue)" FROM lakehouse.marts.business_kpis_daily WHERE order_date >= '
           "TO_DATE('2024-10-01', 'YYYY-MM-DD') AND order_date < TO_DATE('2024-10-08', "
           "'YYYY-MM-DD') GROUP BY DATE_TRUNC('week', order_date) ORDER BY "
           '"SUM(revenue)" DESC LIMIT 10000')
    # 10-01..10-06 fall in the week of Monday 09-30, 10-07 starts the next one
    assert run(engine, sql) == [(dt.date(2024, 9, 30), 210.0), (dt.date(2024, 10, 7), 70.0)]


def test_superset_time_series_on_a_timestamp_column(engine: LakeSQL) -> None:
    """Superset's TIMESTAMP filter: TO_TIMESTAMP with FFF milliseconds, bounds exact."""
    sql = ("SELECT DATE_TRUNC('day', event_ts) AS __timestamp, COUNT(*) AS count FROM "
           "lakehouse.marts.order_events WHERE event_ts >= TO_TIMESTAMP('2024-10-01 "
           "00:00:00.000', 'YYYY-MM-DD HH24:MI:SS.FFF') AND event_ts < TO_TIMESTAMP("
           "'2024-10-03 00:00:00.000', 'YYYY-MM-DD HH24:MI:SS.FFF') GROUP BY "
           "DATE_TRUNC('day', event_ts) ORDER BY count DESC LIMIT 10000")
    assert run(engine, sql) == [(dt.datetime(2024, 10, 1), 2), (dt.datetime(2024, 10, 2), 1)]


@pytest.mark.parametrize(("fmt", "expected"), [
    ("YYYY-MM-DD HH24:MI:SS.FFF", "%Y-%m-%d %H:%M:%S.%g"),
    ("yyyy.mm.dd", "%Y.%m.%d"),
    ("DD-MON-YYYY", "%d-%b-%Y"),
    ("Month DD, YYYY", "%B %d, %Y"),  # MONTH, not MON then "TH": the look-ahead
    ("DY DAY D DDD WW", "%a %A %u %j %V"),
    ("HH:MI AM", "%I:%M %p"),
    ('"100%" YYYY', "100%% %Y"),
])
def test_format_elements(fmt: str, expected: str) -> None:
    assert duckdb_format(fmt) == expected


@pytest.mark.parametrize(("expression", "says"), [
    # Dremio knows these elements; DuckDB has no era, century or 1-2 digit fractions
    ("TO_CHAR(d, 'CC')", "format element 'CC'.*no\\s+equivalent"),
    ("TO_CHAR(ts, 'SS.FF')", "format element 'FF'"),
    # Dremio itself refuses text outside quotes in a format
    ("TO_CHAR(d, 'YYYY Q')", "Invalid date format string 'YYYY Q' at position 5"),
    ("TO_CHAR(d, s)", "TO_CHAR: the format must be a string literal"),
    ("TO_CHAR(n, '#.#0')", "TO_CHAR number format '#.#0' is not supported"),
    # a Dremio function with no DuckDB equivalent: DuckDB's error names it
    ("CONVERT_FROM(s, 'JSON')", "(?i)convert_from"),
])
def test_unsupported_is_a_clear_error(engine: LakeSQL, expression: str, says: str) -> None:
    with pytest.raises(SQLRefused, match=says):
        value(engine, expression)
