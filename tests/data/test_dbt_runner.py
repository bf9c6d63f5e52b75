"""The dbt runner running dbt: dbt-dremio parses the project with the generated profile,
and a dbt that fails before any node says so in dbt's own words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakeops.core.settings import Settings
from lakeops.transform.dbt import DbtError, run_dbt


@pytest.mark.slow
def test_the_dremio_target_is_accepted_by_dbt_dremio(tmp_path: Path) -> None:
    """dbt-dremio takes the generated profile and parses the project for Dremio: sources on
    the lake source's curated folders, marts as tables. (Compiling and running need a
    Dremio server, which this machine cannot run.)"""
    settings = Settings(home=tmp_path / "home", dbt_target="dremio",
                        flight_password="not-used-by-parse")
    run_dbt(["parse"], settings)

    parsed = json.loads((tmp_path / "home/dbt/target/manifest.json").read_text())
    assert parsed["metadata"]["adapter_type"] == "dremio"
    # the parse published the copy the dbt_build DAG is rendered from
    assert json.loads((tmp_path / "home/dbt/dag-manifest.json").read_text()) == parsed
    orders = parsed["sources"]["source.lakeops.business.orders"]
    assert (orders["database"], orders["schema"]) == ("lakehouse", "curated.business")
    mart = parsed["nodes"]["model.lakeops.business_kpis_daily"]
    assert mart["config"]["materialized"] == "table"


def test_run_dbt_failure_without_results_shows_dbt_output(tmp_path: Path) -> None:
    """A dbt that fails before running any node (here: an unknown argument) raises DbtError
    with dbt's own last lines, naming no node."""
    with pytest.raises(DbtError) as failure:
        run_dbt(["run", "--no-such-flag"], Settings(home=tmp_path / "home"))

    assert failure.value.nodes == []
    assert "no-such-flag" in str(failure.value)
