"""The endpoint's engine in process: grants and limits from settings, and DuckDB itself
locked to the served zones (the second wall behind the statement check)."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from pydantic import ValidationError

from lakeops.core.settings import Settings
from lakeops.query import grants
from lakeops.query.engine import LakeSQL
from lakeops.storage.lake import Lake


def test_duckdb_cannot_open_files_outside_the_served_zones(settings: Settings) -> None:
    lake = Lake.from_settings(settings)
    lake.write_partition("raw", "business/orders", "2024-10-01", pa.table({"a": [1]}))
    stray = lake.local_path("landing/_archive/business/customers/2024-10-01/c.csv")
    stray.parent.mkdir(parents=True)
    stray.write_text("email\nada@example.org\n")
    engine = LakeSQL(settings)
    with engine.slot() as slot:
        raw = lake.uri("raw/business/orders/dt=2024-10-01/part-0.parquet")
        assert slot.db.execute(f"SELECT count(*) FROM read_parquet('{raw}')").fetchone() == (1,)
        with pytest.raises(duckdb.PermissionException):
            slot.db.execute(f"SELECT * FROM read_csv('{stray}')").fetchall()
        with pytest.raises(duckdb.Error, match="(?i)locked|configuration"):
            slot.db.execute("SET enable_external_access = true")
        limit = slot.db.execute("SELECT current_setting('memory_limit')").fetchone()
        assert limit is not None and limit[0] == f"{settings.sql_query_memory}.0 MiB"


def test_default_limits_split_the_endpoint_memory() -> None:
    s = Settings(sql_memory_mb=2000, sql_max_concurrent=3)
    assert s.sql_query_memory == 500  # three queries and the catalog


def test_limits_that_do_not_fit_are_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="LAKEOPS_SQL_QUERY_MEMORY_MB=600 x"):
        Settings(sql_memory_mb=2000, sql_max_concurrent=3, sql_query_memory_mb=600)


def test_roles_and_users_from_settings() -> None:
    default = grants.from_settings(Settings())
    assert default["analyst"].zones == {"curated", "features", "marts", "predictions",
                                        "monitoring"}
    assert default["steward"].zones == default["analyst"].zones | {"raw", "quarantine"}
    with pytest.raises(ValueError, match="never landing"):
        grants.from_settings(Settings(sql_roles={"analyst": ["curated", "landing"],
                                                 "steward": ["raw"]}))
    with pytest.raises(ValidationError, match="role\\(s\\) auditor"):
        Settings(sql_users={"analyst": "analyst", "ann": "auditor"})
    with pytest.raises(ValueError, match="LAKEOPS_FLIGHT_USER 'bob'"):
        grants.from_settings(Settings(flight_user="bob"))


def test_roles_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEOPS_SQL_USERS", '{"analyst": "analyst", "dora": "steward"}')
    users = grants.from_settings(Settings())
    assert users["dora"].allows("quarantine") and not users["analyst"].allows("raw")
