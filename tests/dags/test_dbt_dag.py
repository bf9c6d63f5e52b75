"""The ``dbt_build`` DAG (astronomer-cosmos): scheduled on the registry's curated-table and
feature assets; from a manifest, a task group per model (run, then its tests) that follows
one ``dbt build``, mart tasks emitting the registry's mart assets, docs last; without a
usable manifest, parse -> build -> docs. Parsing writes nothing."""

from __future__ import annotations

import fcntl
import json
import os
import runpy
from pathlib import Path

import pytest

from lakeops.catalog import datasets

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "dags" / "dbt_build.py"


def _files(folder: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in folder.rglob("*")} if folder.exists() else {}


def _dag(home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("LAKEOPS_HOME", str(home))
    monkeypatch.delenv("LAKEOPS_DBT_TARGET", raising=False)
    monkeypatch.delenv("LAKEOPS_PROFILE", raising=False)
    monkeypatch.delenv("LAKEOPS_LAKE_URI", raising=False)
    before = _files(home)
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    assert _files(home) == before, "parsing the DAG wrote nothing under LAKEOPS_HOME"
    return bag.dags["dbt_build"]


def _check_common(dag) -> None:  # type: ignore[no-untyped-def]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.doc_md and len(dag.doc_md) > 100 and dag.tags
    assert sorted(a.uri for a in dag.timetable.asset_condition.objects) == sorted(
        d.uri for d in datasets.DBT_SOURCES)
    from lakeops.catalog.contracts import TABLES  # the registry covers every source and feature

    assert len(datasets.DBT_SOURCES) == sum(len(t) for t in TABLES.values()) + 2
    for t in dag.tasks:
        assert t.owner == "data-platform" and t.retries >= 1, t.task_id


def test_registry_marts_are_the_projects_mart_models() -> None:
    files = sorted(p.stem for p in (ROOT / "dbt" / "models" / "marts").glob("*.sql"))
    assert list(datasets.MART_NAMES) == files


def test_without_manifest_parse_then_build(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    dag = _dag(tmp_path / "home", monkeypatch)

    _check_common(dag)
    assert {t.task_id for t in dag.tasks} == {"dbt_parse", "dbt_build", "dbt_docs"}
    assert dag.get_task("dbt_build").upstream_task_ids == {"dbt_parse"}
    assert dag.get_task("dbt_docs").upstream_task_ids == {"dbt_build"}
    assert {a.uri for a in dag.get_task("dbt_build").outlets} == {
        f"lakeops://marts/{m}" for m in datasets.MART_NAMES}
    assert not (tmp_path / "home").exists(), "parsing the DAG wrote nothing"


def _node(kind: str, name: str, *parents: str, folder: str = "") -> tuple[str, dict]:
    uid = f"{kind}.lakeops.{name}"
    path = f"models/{folder}/{name}.sql" if kind == "model" else f"models/{folder}/_models.yml"
    return uid, {
        "unique_id": uid, "resource_type": kind, "name": name, "package_name": "lakeops",
        "original_file_path": path, "path": path, "fqn": ["lakeops", folder, name],
        "tags": [], "config": {"materialized": "view" if folder != "marts" else "external"},
        "depends_on": {"nodes": [f"model.lakeops.{p}" for p in parents]},
    }


def _write_manifest(home: Path, nodes: dict) -> None:
    manifest = home / "dbt" / "dag-manifest.json"  # what `dbt parse` published
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({
        "metadata": {"project_name": "lakeops", "adapter_type": "duckdb"},
        "nodes": nodes, "sources": {}, "exposures": {}, "unit_tests": {},
        "child_map": {}, "parent_map": {},
    }))


SMALL = dict([
    _node("model", "stg_business__orders", folder="staging"),
    _node("model", "stg_business__customers", folder="staging"),
    _node("model", "business_kpis_daily", "stg_business__orders", "stg_business__customers",
          folder="marts"),
    _node("test", "not_null_stg_business__orders_order_id", "stg_business__orders",
          folder="staging"),
    _node("test", "not_null_stg_business__customers_customer_id", "stg_business__customers",
          folder="staging"),
    _node("test", "unique_business_kpis_daily_order_date", "business_kpis_daily",
          folder="marts"),
    _node("test", "relationships_orders_customers", "stg_business__orders",
          "stg_business__customers", folder="staging"),
])


def test_with_manifest_a_task_group_per_model_following_one_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    _write_manifest(home, SMALL)

    dag = _dag(home, monkeypatch)

    _check_common(dag)
    models = ("stg_business__orders", "stg_business__customers", "business_kpis_daily")
    assert {t.task_id for t in dag.tasks} == {"dbt_producer_watcher", "dbt_docs"} | {
        f"{m}.{step}" for m in models for step in ("run", "test")}
    # one `dbt build` first; models without a parent model follow it, whatever its outcome
    for m in models[:2]:
        run = dag.get_task(f"{m}.run")
        assert run.upstream_task_ids == {"dbt_producer_watcher"}
        assert run.trigger_rule == "all_done"
        assert dag.get_task(f"{m}.test").upstream_task_ids == {f"{m}.run"}
    # a model waits for its parents' tests
    assert dag.get_task("business_kpis_daily.run").upstream_task_ids == {
        "stg_business__orders.test", "stg_business__customers.test"}
    # a test of two models reports with each (the producer's dbt build runs it after both)
    # the mart's run task emits the registry's asset (Cosmos adds its own at run time)
    assert "lakeops://marts/business_kpis_daily" in [
        a.uri for a in dag.get_task("business_kpis_daily.run").outlets]
    assert not any(getattr(a, "uri", "").startswith("lakeops://marts/")
                   for a in dag.get_task("stg_business__orders.run").outlets)
    # docs last, after everything
    leaves = {t.task_id for t in dag.tasks if not t.downstream_list}
    assert leaves == {"dbt_docs"}
    assert dag.get_task("dbt_docs").upstream_task_ids == {"business_kpis_daily.test"}


def test_local_target_runs_dbt_one_at_a_time(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The DuckDB file takes one writer: every dbt invocation of the DAG holds the same
    lock as `lakeops dbt`, and the per-task mode runs one task at a time as well."""
    home = tmp_path / "home"
    _write_manifest(home, SMALL)
    _dag(home, monkeypatch)  # the environment of the local target (Airflow imported)
    from cosmos import ExecutionMode

    module = runpy.run_path(str(DAG_FILE))
    assert module["build"](ExecutionMode.LOCAL).max_active_tasks == 1
    producer = module["dbt_build"].get_task("dbt_producer_watcher")
    assert producer.profile_config.target_name == "local"
    with producer.profile_config.ensure_profile() as (path, variables):
        assert path == home / "dbt" / "profiles.yml" and path.is_file()
        assert variables["LAKEOPS_LAKE"] == str(home / "lake")
        with open(home / "dbt" / ".lock", "w") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_dremio_password_reaches_dbt_at_run_time_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    _write_manifest(home, SMALL)
    monkeypatch.setenv("LAKEOPS_FLIGHT_PASSWORD", "s3cr3t-value")
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("LAKEOPS_HOME", str(home))
    monkeypatch.setenv("LAKEOPS_DBT_TARGET", "dremio")
    dag = DagBag(dag_folder=str(DAG_FILE)).dags["dbt_build"]
    from airflow.serialization.serialized_objects import DagSerialization

    assert "s3cr3t-value" not in json.dumps(DagSerialization.to_dict(dag), default=str)
    producer = dag.get_task("dbt_producer_watcher")
    assert producer.profile_config.target_name == "dremio"
    with producer.profile_config.ensure_profile() as (_, variables):
        assert variables["LAKEOPS_FLIGHT_PASSWORD"] == "s3cr3t-value"
    assert "s3cr3t-value" not in (home / "dbt" / "profiles.yml").read_text()
    assert os.environ.get("LAKEOPS_LAKE") is None


def test_unusable_manifest_falls_back_to_one_build(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "home" / "dbt" / "dag-manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"nodes": {"model.lakeops.x": {"resource_type": "mo')  # damaged

    dag = _dag(tmp_path / "home", monkeypatch)

    assert {t.task_id for t in dag.tasks} == {"dbt_parse", "dbt_build", "dbt_docs"}


def test_a_dbt_run_rewriting_its_manifest_does_not_reshape_the_dag(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every dbt command rewrites target/manifest.json; the DAG processor may read it half
    written. The DAG is rendered from the copy `dbt parse` published, so a running run
    keeps its tasks."""
    home = tmp_path / "home"
    _write_manifest(home, dict([_node("model", "stg_business__orders", folder="staging")]))
    rewriting = home / "dbt" / "target" / "manifest.json"
    rewriting.parent.mkdir(parents=True)
    rewriting.write_text('{"nodes": {"model.lakeops.stg_busin')  # a dbt run mid-write

    dag = _dag(home, monkeypatch)

    # a model without tests is one task, not a group
    assert {t.task_id for t in dag.tasks} == {
        "dbt_producer_watcher", "stg_business__orders_run", "dbt_docs"}
