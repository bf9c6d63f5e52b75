"""The dbt runner: profiles derived from settings (no secret in the file), the lake check,
and the task plan the ``dbt_build`` DAG is rendered from."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from lakeops.settings import Settings
from lakeops.transform.dbt import plan, profiles, run_dbt, write_profiles


def test_profiles_follow_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", host="10.0.0.5", flight_user="analyst")
    outputs = profiles(settings)["lakeops"]["outputs"]

    local = outputs["local"]
    assert local["type"] == "duckdb"
    assert local["path"] == str(tmp_path / "home" / "dbt" / "lakeops.duckdb")
    assert local["threads"] == 2 and local["extensions"] == []
    assert local["settings"]["autoinstall_known_extensions"] is False
    dremio = outputs["dremio"]
    assert (dremio["type"], dremio["software_host"], dremio["port"], dremio["user"]) == (
        "dremio", "10.0.0.5", 9047, "analyst")
    assert profiles(Settings(home=tmp_path, flight_host="dremio"))["lakeops"]["outputs"][
        "dremio"]["software_host"] == "dremio"


def test_profile_target_follows_the_platform_profile(tmp_path: Path) -> None:
    assert profiles(Settings(home=tmp_path))["lakeops"]["target"] == "local"
    assert profiles(Settings(home=tmp_path, profile="compose"))["lakeops"]["target"] == "dremio"
    assert profiles(Settings(home=tmp_path, profile="compose", dbt_target="local"))[
        "lakeops"]["target"] == "local"


def test_written_profiles_hold_no_secret(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", flight_password="s3cr3t-value")
    folder = write_profiles(settings)

    path = folder / "profiles.yml"
    assert folder == tmp_path / "home" / "dbt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "s3cr3t-value" not in text
    password = yaml.safe_load(text)["lakeops"]["outputs"]["dremio"]["password"]
    assert password == "{{ env_var('LAKEOPS_FLIGHT_PASSWORD') }}"


def test_local_target_reaches_an_s3_lake_with_no_key_in_the_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", lake_uri="s3://bucket/lake",
                        s3_endpoint="http://minio:9000", s3_access_key="AKEY",
                        s3_secret_key="s3cr3t-key")
    text = (write_profiles(settings) / "profiles.yml").read_text()
    assert "AKEY" not in text and "s3cr3t-key" not in text

    local = yaml.safe_load(text)["lakeops"]["outputs"]["local"]
    assert local["extensions"] == ["httpfs"]
    assert local["config_options"]["extension_directory"] == str(
        tmp_path / "home" / "duckdb_extensions")
    [secret] = local["secrets"]
    assert secret["key_id"] == "{{ env_var('LAKEOPS_S3_ACCESS_KEY') }}"
    assert secret["secret"] == "{{ env_var('LAKEOPS_S3_SECRET_KEY') }}"
    assert (secret["type"], secret["scope"], secret["endpoint"], secret["url_style"],
            secret["use_ssl"]) == ("s3", "s3://bucket/lake", "minio:9000", "path", "false")


@pytest.mark.slow
def test_the_dremio_target_is_accepted_by_dbt_dremio(tmp_path: Path) -> None:
    """dbt-dremio takes the generated profile and parses the project for Dremio: sources on
    the lake source's curated folders, marts as tables. (Compiling and running need a
    Dremio server, which this machine cannot run.)"""
    import json

    settings = Settings(home=tmp_path / "home", dbt_target="dremio",
                        flight_password="not-used-by-parse")
    run_dbt(["parse"], settings)

    manifest = json.loads((tmp_path / "home/dbt/target/manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "dremio"
    # the parse published the copy the dbt_build DAG is rendered from
    assert json.loads((tmp_path / "home/dbt/dag-manifest.json").read_text()) == manifest
    orders = manifest["sources"]["source.lakeops.business.orders"]
    assert (orders["database"], orders["schema"]) == ("lakehouse", "curated.business")
    mart = manifest["nodes"]["model.lakeops.business_kpis_daily"]
    assert mart["config"]["materialized"] == "table"


def _node(kind: str, name: str, *parents: str, path: str = "") -> tuple[str, dict]:
    uid = f"{kind}.lakeops.{name}"
    return uid, {"resource_type": kind, "name": name, "package_name": "lakeops",
                 "original_file_path": path,
                 "depends_on": {"nodes": [f"model.lakeops.{p}" for p in parents]}}


def test_plan_orders_models_and_runs_each_test_once() -> None:
    manifest = {"nodes": dict([
        _node("model", "stg_a", path="models/staging/stg_a.sql"),
        _node("model", "int_b", "stg_a", path="models/intermediate/int_b.sql"),
        _node("model", "mart_c", "stg_a", path="models/marts/mart_c.sql"),
        _node("model", "mart_d", "int_b", "mart_c", path="models/marts/mart_d.sql"),
        _node("test", "not_null_stg_a_id", "stg_a"),
        _node("test", "relationships_int_b_to_mart_c", "int_b", "mart_c"),
        _node("test", "assert_d_matches_a", "mart_d", "stg_a"),
    ])}

    steps = {s.name: s for s in plan(manifest)}

    assert list(steps)[0] == "stg_a" and list(steps)[-1] == "mart_d"
    assert steps["mart_d"].parents == ("int_b", "mart_c")
    # a test of one model runs with it (dbt selects it); a test of several runs once, with
    # the last of them, after every one of them ran
    assert steps["stg_a"].shared_tests == ()
    owner = "mart_c" if list(steps).index("mart_c") > list(steps).index("int_b") else "int_b"
    assert steps[owner].shared_tests == ("relationships_int_b_to_mart_c",)
    assert set(steps[owner].test_parents) == {"int_b", "mart_c"} - {owner}
    assert steps["mart_d"].shared_tests == ("assert_d_matches_a",)
    assert steps["mart_d"].test_parents == ("stg_a",)
    assert [s.name for s in steps.values() if s.is_mart] == ["mart_c", "mart_d"]
