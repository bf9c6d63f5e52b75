"""The dbt runner: profiles derived from settings (no secret in the file), the variables
and secrets a dbt invocation gets, and the manifest the ``dbt_build`` DAG is rendered from
(dbt itself run by the runner: tests/data/test_dbt_runner.py)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from lakeops.core.settings import Settings
from lakeops.transform.dbt import (
    dbt_variables,
    manifest,
    profiles,
    write_profiles,
)


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


def test_dbt_variables_carry_the_lake_and_only_the_targets_secrets(tmp_path: Path) -> None:
    local = dbt_variables(Settings(home=tmp_path, flight_password="s3cr3t-value"))
    assert local["LAKEOPS_LAKE"] == str(tmp_path / "lake")
    assert local["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert "LAKEOPS_FLIGHT_PASSWORD" not in local

    dremio = dbt_variables(Settings(home=tmp_path, dbt_target="dremio",
                                    flight_password="s3cr3t-value"))
    assert dremio["LAKEOPS_FLIGHT_PASSWORD"] == "s3cr3t-value"
    with pytest.raises(ValueError, match="LAKEOPS_FLIGHT_PASSWORD"):
        dbt_variables(Settings(home=tmp_path, dbt_target="dremio"))


def test_manifest_is_none_until_a_usable_one_is_published(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert manifest(settings) is None
    published = tmp_path / "dbt" / "dag-manifest.json"
    published.parent.mkdir()
    published.write_text('{"nodes": {"model.lakeops.x": {"resource_type": "mo')
    assert manifest(settings) is None
    published.write_text(json.dumps({"nodes": {}}))
    assert manifest(settings) is None, "no model: nothing to render"
    published.write_text(json.dumps({"nodes": {"model.lakeops.x": {"resource_type": "model"}}}))
    assert manifest(settings) == {"nodes": {"model.lakeops.x": {"resource_type": "model"}}}


def test_a_run_reads_up_to_the_newest_day_every_source_has_published(
        settings: Settings) -> None:
    """A day one source has published but another has not yet stays out of the run, so the
    marts of one run agree with each other (the newest day of all is read by the next)."""
    from lakeops.catalog import datasets
    from lakeops.storage.lake import Lake
    from lakeops.transform import dbt as dbt_mod

    lake = Lake.from_settings(settings)
    assert dbt_mod.published_as_of(settings) is None  # nothing published: read everything
    for ds in datasets.DBT_SOURCES:
        days = ["2024-10-01"] if ds.table == "orders" else ["2024-10-01", "2024-10-02"]
        for day in days:
            lake.write_bytes(f"{ds.path}/dt={day}/part-0.parquet", b"x")

    assert dbt_mod.published_as_of(settings) == "2024-10-01"
    assert dbt_mod.dbt_variables(settings)[dbt_mod.AS_OF_ENV] == "2024-10-01"
    lake.write_bytes("curated/business/orders/dt=2024-10-02/part-0.parquet", b"x")
    assert dbt_mod.published_as_of(settings) == "2024-10-02"
