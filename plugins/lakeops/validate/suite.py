"""Running a table's Great Expectations suite on DuckDB, and publishing its data docs.

The suite (:mod:`lakeops.validate.rules`) runs through a GX checkpoint against the audit's
DuckDB workspace (:mod:`lakeops.validate.workspace`) with GX's SQL engine, over the
buffered dialect of :mod:`lakeops.validate.gx_duckdb`: the metrics run as SQL over the
Parquet file, nothing is loaded into pandas. GX's file project (suites, results,
checkpoints under ``<home>/gx``) is shared by concurrent tasks, so one runs at a time.
Each run renders its own pages of the data docs and the index, rewritten to load nothing
from third parties (:mod:`lakeops.validate.docs_assets`) and uploaded to an S3 lake.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakeops.catalog.contracts import Contract
from lakeops.core.locking import file_lock
from lakeops.core.settings import Settings
from lakeops.storage.lake import Lake
from lakeops.validate.rules import Rule, suite_name
from lakeops.validate.workspace import memory_limit


@dataclass
class Outcome:
    """One expectation's result in a run of the suite."""

    rule: Rule
    success: bool
    observed: str
    unexpected: int | None
    elements: int | None


def _gx_lock(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """GX's file project is shared by concurrent Airflow tasks: one writer at a time."""
    return file_lock(settings.home / ".gx.lock")


def data_docs_dir(settings: Settings) -> Path:
    """Where GX writes its site: in the lake's ``reports/`` for a local lake; for an S3 lake
    a local build folder that :func:`_sync_docs` uploads (GX sites are filesystem-only)."""
    lake = Lake.from_settings(settings)
    if lake.is_local:
        return lake.local_path("reports/data_docs")
    return settings.home / "gx" / "data_docs"


def _sync_docs(settings: Settings, since: float = 0.0) -> None:
    """Publish the pages written since ``since`` (a ``time.time()``): rewrite them to load
    their scripts and styles from the docs site, not GX's CDNs and tracking image (see
    :mod:`lakeops.validate.docs_assets`), then upload them to an S3 lake."""
    from lakeops.validate import docs_assets

    root = data_docs_dir(settings)
    if root.is_dir():
        docs_assets.clean_site(root, since=since)
    lake = Lake.from_settings(settings)
    if lake.is_local:
        return
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_mtime >= since - 1:
            lake.put_file(path, f"reports/data_docs/{path.relative_to(root).as_posix()}")


def gx_context(settings: Settings) -> Any:
    """The file-backed GX project of this state folder (suites, validation results,
    checkpoints under ``<home>/gx``), its data docs site in the lake's ``reports/``."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        FilesystemStoreBackendDefaults,
    )

    from lakeops.validate import gx_duckdb

    gx_duckdb.register()
    root = settings.home / "gx"
    config = DataContextConfig(
        store_backend_defaults=FilesystemStoreBackendDefaults(root_directory=str(root)),
        data_docs_sites={"lakeops": {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(data_docs_dir(settings))},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
        analytics_enabled=False,
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _observed(result: Any) -> tuple[str, int | None, int | None]:
    res = result.result or {}
    observed = res.get("observed_value")
    return (
        json.dumps(observed, default=str)[:500] if observed is not None else "",
        res.get("unexpected_count"),
        res.get("element_count"),
    )


def run_suite(settings: Settings, contract: Contract, interval: str, db: Path,
              rules: list[Rule]) -> list[Outcome]:
    """Run the table's suite through a GX checkpoint on DuckDB; rebuild the data docs."""
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    with _gx_lock(settings):
        context = gx_context(settings)
        source = context.data_sources.add_or_update_sql(
            name=f"lake_{contract.source}_{contract.table}",
            connection_string=f"duckdb+buffered:///{db}?memory_limit={memory_limit(settings)}",
        )
        asset = source.add_table_asset(name=f"{contract.table}_{interval}", table_name="batch")
        batch = asset.add_batch_definition_whole_table("interval")
        suite = gx.ExpectationSuite(name=suite_name(contract),
                                    meta={"contract": f"expectations/contracts/"
                                          f"{contract.source}/{contract.table}.yml"})
        for rule in rules:
            suite.add_expectation(rule.gx())
        suite = context.suites.add_or_update(suite)
        definition = context.validation_definitions.add_or_update(gx.ValidationDefinition(
            name=f"{suite_name(contract)}.{interval}", data=batch, suite=suite))
        # one checkpoint per table and interval: a stored checkpoint names its datasource
        # and asset, which exist in this context only for this table and interval
        checkpoint = context.checkpoints.add_or_update(gx.Checkpoint(
            name=f"{suite_name(contract)}.{interval}", validation_definitions=[definition],
            result_format={"result_format": "SUMMARY"}))
        result = checkpoint.run(run_id=gx.RunIdentifier(
            run_name=f"{suite_name(contract)}@{interval}"))
        # render this run's pages and the index, not every result ever stored (a full
        # rebuild grows with the history and held the lock for seconds per task)
        rendered = time.time()
        context.build_data_docs(resource_identifiers=[
            *result.run_results, ExpectationSuiteIdentifier(name=suite_name(contract))])
        _sync_docs(settings, since=rendered)
    outcomes = []
    by_rule = {r.name: r for r in rules}
    for validation in result.run_results.values():
        for er in validation.results:
            rule = by_rule[er.expectation_config.meta["rule"]]
            observed, unexpected, elements = _observed(er)
            outcomes.append(Outcome(rule, bool(er.success), observed, unexpected, elements))
    return outcomes
