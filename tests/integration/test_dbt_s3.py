"""dbt's local target over a lake in S3 (moto standing in for MinIO): sources read and
marts written through DuckDB's httpfs from its installed wheel."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.ingest import stage as ingest
from lakeops.storage.lake import Lake
from lakeops.synthetic.generate import generate
from lakeops.transform.dbt import run_dbt
from lakeops.validate import publish

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
START = date(2024, 10, 1)


def test_dbt_builds_business_marts_in_an_s3_lake(s3_settings: Settings) -> None:
    lake = Lake.from_settings(s3_settings)
    generate(Lake.landing(s3_settings), "business", START, 2, scale=0.005, seed=3)
    for d in range(2):
        day = (START + timedelta(days=d)).isoformat()
        for table in TABLES["business"]:
            ingest.ingest_table("business", table, day, s3_settings)
        publish.validate_interval("business", day, s3_settings)

    # the mart, what it is built from and their tests (cautious: not the tests that also
    # need models outside the selection)
    run_dbt(["build", "--select", "+business_kpis_daily", "--indirect-selection", "cautious"],
            s3_settings)

    mart = lake.read_parquet("marts/business_kpis_daily/part-0.parquet")
    orders = lake.read_table("curated", "business/orders")
    by_day: dict[str, int] = {}
    for ts in orders.column("order_ts").to_pylist():
        by_day[ts.date().isoformat()] = by_day.get(ts.date().isoformat(), 0) + 1
    got = {d.isoformat(): n for d, n in zip(mart.column("order_date").to_pylist(),
                                              mart.column("orders").to_pylist(), strict=True)}
    assert got == by_day and sum(got.values()) > 0
