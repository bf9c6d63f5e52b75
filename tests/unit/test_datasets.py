"""The dataset registry names every dataset once, and agrees with what writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeops.catalog import datasets
from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import repo_root


def test_every_dataset_has_one_name_one_uri_and_a_lake_path() -> None:
    every = datasets.all_datasets()
    names = [d.name for d in every]
    uris = [d.uri for d in every]
    assert len(set(names)) == len(names)
    assert len(set(uris)) == len(uris)
    for d in every:
        assert d.uri == f"lakeops://{d.path}"
        assert d.path.startswith(d.zone + "/") and d.owner


def test_curated_tables_are_the_contracts_tables() -> None:
    curated = {(d.source, d.table) for d in datasets.CURATED.values()}
    assert curated == {(s, t) for s, tables in TABLES.items() for t in tables}
    orders = datasets.curated("business", "orders")
    assert (orders.name, orders.uri, orders.dataset) == (
        "curated.business.orders", "lakeops://curated/business/orders", "business/orders")
    with pytest.raises(KeyError, match="no dataset business.nope"):
        datasets.curated("business", "nope")


def test_marts_are_the_dbt_projects_marts() -> None:
    files = sorted(p.stem for p in (repo_root() / "dbt" / "models" / "marts").glob("*.sql"))
    assert sorted(datasets.MART_NAMES) == files
    assert datasets.mart("business_kpis_daily").uri == "lakeops://marts/business_kpis_daily"


def test_feature_jobs_have_their_spark_entry_points_and_read_curated_tables() -> None:
    for job in datasets.FEATURE_JOBS.values():
        assert (repo_root() / "spark_jobs" / f"{job.job}.py").is_file()
        assert job.inputs and all(d.zone == "curated" and d.source == job.source
                                  for d in job.inputs)
        assert datasets.feature_job(job.job) is job
        assert datasets.feature_job(job.source) is job
    assert set(datasets.DBT_SOURCES) == {*datasets.CURATED.values(),
                                         *datasets.FEATURES.values()}


def test_asset_is_built_only_when_asked() -> None:
    asset = datasets.curated("education", "vle").asset()
    assert (asset.name, asset.uri) == ("curated.education.vle",
                                       "lakeops://curated/education/vle")
    assert datasets.by_name("lakeops://curated/education/vle").table == "vle"


def test_no_module_spells_an_asset_uri_itself() -> None:
    """Asset URIs come from the registry: no other file of the package or the DAGs
    writes ``lakeops://`` followed by a zone."""
    offenders = []
    for folder in ("plugins/lakeops", "dags"):
        for path in Path(repo_root() / folder).rglob("*.py"):
            if path.name == "datasets.py":
                continue
            for zone in ("curated", "features", "marts", "predictions", "monitoring"):
                if f'"lakeops://{zone}' in path.read_text() or \
                        f"f\"lakeops://{zone}" in path.read_text():
                    offenders.append(f"{path.name}: lakeops://{zone}")
    assert offenders == []
