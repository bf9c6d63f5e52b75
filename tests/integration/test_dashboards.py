"""Dashboards as code against a real Superset and the real SQL endpoint: the bundle in
superset/assets/ is published through Superset's API into a fresh Superset, twice without
duplicates, and a chart query with a date filter - Dremio SQL written by Superset's own
engine spec (``TO_DATE(..., 'YYYY-MM-DD')``) - runs over dremio+flight on the endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest
from tests.support import platform_settings

from lakeops import services
from lakeops.core.settings import Settings
from lakeops.dashboards import bundle as dashboards
from lakeops.storage.lake import Lake

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
DAYS = [date(2024, 10, 1) + timedelta(days=i) for i in range(10)]


def _kpis() -> pa.Table:
    n = len(DAYS)
    money = pa.array([Decimal(f"{100 * (i + 1)}.50") for i in range(n)], pa.decimal128(18, 2))
    counts = pa.array(range(1, n + 1), pa.int64())
    return pa.table({
        "order_date": pa.array(DAYS, pa.date32()),
        "week_start": pa.array([d - timedelta(days=d.weekday()) for d in DAYS], pa.date32()),
        "orders": counts, "revenue_orders": counts, "cancelled_orders": counts,
        "returned_orders": counts, "customers": counts, "new_customers": counts,
        "repeat_customers": counts, "units_sold": counts,
        "revenue": money, "payments_captured": money, "payments_refunded": money,
        "average_order_value": pa.array([1.5] * n), "repeat_customer_rate": pa.array([0.5] * n),
    })


ARROW = {"VARCHAR": pa.string(), "STRING": pa.string(), "BIGINT": pa.int64(),
         "INTEGER": pa.int32(), "INT": pa.int32(), "FLOAT": pa.float64(),
         "DOUBLE": pa.float64(), "DECIMAL": pa.decimal128(18, 2), "DATE": pa.date32(),
         "DATETIME": pa.timestamp("us"), "TIMESTAMP": pa.timestamp("us"),
         "BOOLEAN": pa.bool_()}


def _like(columns: list[dict], rows: int = 3) -> pa.Table:
    """A small table with a dataset's columns (as the bundle's YAML types them)."""
    out = {}
    for col in columns:
        if col.get("expression"):
            continue
        t = ARROW[str(col["type"]).split("(")[0].upper()]
        if pa.types.is_string(t):
            values: list = [f"{col['column_name']}-{i % 2}" for i in range(rows)]
        elif pa.types.is_date(t):
            values = DAYS[:rows]
        elif pa.types.is_timestamp(t):
            values = [datetime.combine(d, datetime.min.time()) for d in DAYS[:rows]]
        elif pa.types.is_decimal(t):
            values = [Decimal(i + 1) for i in range(rows)]
        elif pa.types.is_boolean(t):
            values = [i % 2 == 0 for i in range(rows)]
        else:
            values = [i + 1 for i in range(rows)]
        out[col["column_name"]] = pa.array(values, t)
    return pa.table(out)


def _lake_for_every_chart(lake: Lake) -> None:
    """Every table the bundle's datasets read, shaped as the datasets say: the marts, and
    the predictions behind the virtual datasets."""
    import yaml

    for path in sorted((dashboards.ASSETS / "datasets").rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        table, columns = doc["table_name"], doc["columns"]
        if doc["schema"] == "lakehouse.marts" and not doc["sql"]:
            if not lake.exists(f"marts/{table}/part-0.parquet"):
                lake.write_table(f"marts/{table}/part-0.parquet", _like(columns))
        elif table.startswith("predictions_"):
            lake.write_partition("predictions", table.removeprefix("predictions_"),
                                 DAYS[-1].isoformat(),
                                 _like([c for c in columns if c["column_name"] != "dt"]))
        elif table.startswith("ingest_runs_"):
            lake.write_partition("monitoring", f"ingest_runs/{table.removeprefix('ingest_runs_')}",
                                 DAYS[-1].isoformat(),
                                 _like([c for c in columns if c["column_name"] != "dt"]))
        elif str(doc["schema"]).startswith("lakehouse.monitoring"):
            group = str(doc["schema"]).removeprefix("lakehouse.monitoring").strip(".")
            lake.write_partition("monitoring", "/".join(p for p in (group, table) if p),
                                 DAYS[-1].isoformat(),
                                 _like([c for c in columns if c["column_name"] != "dt"]))


@pytest.fixture(scope="module")
def superset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = platform_settings(tmp_path_factory.mktemp("dashboards"))
    lake = Lake.from_settings(settings)
    lake.write_table("marts/business_kpis_daily/part-0.parquet", _kpis())
    _lake_for_every_chart(lake)
    try:
        services.up(settings, services=["sql", "superset"], timeout=300)
        yield settings
    finally:
        services.down(settings)


def _get(settings: Settings, path: str, **params: str) -> dict:
    with dashboards.superset_client(settings) as client:
        r = client.get(path, params=params)
        r.raise_for_status()
        return dict(r.json())


def test_publish_imports_the_bundle_once(superset: Settings) -> None:
    first = dashboards.publish(superset)
    assert first["published"]
    again = dashboards.publish(superset)
    assert not again["published"] and "unchanged" in again["reason"]
    dashboards.publish(superset, force=True)  # overwrite: nothing twice

    databases = _get(superset, "/api/v1/database/")["result"]
    assert [d["database_name"] for d in databases] == ["Lakehouse"]
    with dashboards.superset_client(superset) as client:
        db = client.get(f"/api/v1/database/{databases[0]['id']}/connection").json()["result"]
    assert db["sqlalchemy_uri"].startswith(
        f"dremio+flight://analyst:XXXXXXXXXX@{superset.host}:{superset.flight_port}/")
    names = sorted(d["table_name"] for d in _get(
        superset, "/api/v1/dataset/", q="(page_size:100)")["result"])
    files = [f for f in first["files"] if f.startswith("datasets/")]
    assert len(names) == len(files) and "business_kpis_daily" in names


def test_a_date_filtered_chart_query_runs_on_the_endpoint(superset: Settings) -> None:
    """What a dashboard's time filter sends: Superset's Dremio engine spec turns the range
    into TO_DATE('2024-10-03', 'YYYY-MM-DD') bounds on the DATE column; the endpoint
    translates them and answers through the dremio+flight driver."""
    dashboards.publish(superset)
    [ds] = [d for d in _get(superset, "/api/v1/dataset/", q="(page_size:100)")["result"]
            if d["table_name"] == "business_kpis_daily"]
    query = {
        "datasource": {"id": ds["id"], "type": "table"},
        "queries": [{
            "columns": [], "metrics": [{"expressionType": "SQL", "label": "orders",
                                        "sqlExpression": "SUM(orders)"}],
            "filters": [{"col": "order_date", "op": "TEMPORAL_RANGE",
                         "val": "2024-10-03 : 2024-10-06"}],
            "row_limit": 100,
        }],
        "result_format": "json", "result_type": "full",
    }
    with dashboards.superset_client(superset) as client:
        r = client.post("/api/v1/chart/data", json=query)
    assert r.status_code == 200, r.text[:2000]
    [result] = r.json()["result"]
    assert "TO_DATE('2024-10-03', 'YYYY-MM-DD')" in result["query"], result["query"]
    assert result["data"] == [{"orders": 3 + 4 + 5}]  # 3, 4 and 5 October; 6 excluded


def test_every_chart_of_every_dashboard_answers_from_the_endpoint(superset: Settings) -> None:
    """The dashboards as published: Business, Education, Data quality and Models with
    their native filters,
    and every chart's saved query run through Superset (warming its cache) over
    dremio+flight without an error."""
    import json

    dashboards.publish(superset)
    found = {d["dashboard_title"]: d["id"] for d in _get(superset, "/api/v1/dashboard/")["result"]}
    assert {"Business", "Education", "Data quality", "Models"} <= set(found)
    filters = {}
    charts = 0
    for title, dash_id in found.items():
        detail = _get(superset, f"/api/v1/dashboard/{dash_id}")["result"]
        config = json.loads(detail["json_metadata"])["native_filter_configuration"]
        filters[title] = {f["filterType"] for f in config}
        charts += len(_get(superset, f"/api/v1/dashboard/{dash_id}/charts")["result"])
    assert filters["Business"] >= {"filter_time", "filter_select"}
    assert filters["Education"] >= {"filter_select", "filter_range"}
    assert filters["Data quality"] >= {"filter_time", "filter_select"}
    assert filters["Models"] >= {"filter_time", "filter_select"}
    assert charts >= 32
    assert dashboards.warm(superset)["charts_warmed"] == charts
