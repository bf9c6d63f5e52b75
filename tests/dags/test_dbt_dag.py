"""The ``dbt_build`` DAG: scheduled on the curated-table and feature assets; one run and
one test task per model when a manifest exists, parse -> build -> docs when none does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "dbt_build.py"


def _dag(home: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("LAKEOPS_HOME", str(home))
    monkeypatch.delenv("LAKEOPS_DBT_TARGET", raising=False)
    monkeypatch.delenv("LAKEOPS_PROFILE", raising=False)
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["dbt_build"]


def _check_common(dag) -> None:  # type: ignore[no-untyped-def]
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.doc_md and len(dag.doc_md) > 100 and dag.tags
    from lakeops.contracts import TABLES

    assert sorted(a.uri for a in dag.timetable.asset_condition.objects) == sorted([
        "lakeops://features/business/customer_day",
        "lakeops://features/education/student_week",
        *(f"lakeops://curated/{s}/{t}" for s, tables in TABLES.items() for t in tables),
    ])
    for t in dag.tasks:
        assert t.owner == "data-platform" and t.retries >= 1, t.task_id


def test_without_manifest_parse_then_build(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    dag = _dag(tmp_path / "home", monkeypatch)

    _check_common(dag)
    assert {t.task_id for t in dag.tasks} == {"dbt_parse", "dbt_build", "dbt_docs"}
    assert dag.get_task("dbt_build").upstream_task_ids == {"dbt_parse"}
    assert dag.get_task("dbt_docs").upstream_task_ids == {"dbt_build"}
    assert "lakeops://marts/business_kpis_daily" in {
        a.uri for a in dag.get_task("dbt_build").outlets}
    assert not (tmp_path / "home").exists(), "parsing the DAG wrote nothing"


def _model(name: str, *parents: str, folder: str) -> tuple[str, dict]:
    return f"model.lakeops.{name}", {
        "resource_type": "model", "name": name, "package_name": "lakeops",
        "original_file_path": f"models/{folder}/{name}.sql",
        "depends_on": {"nodes": [f"model.lakeops.{p}" for p in parents]},
    }


def test_with_manifest_one_task_per_model_and_its_tests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    manifest = home / "dbt" / "dag-manifest.json"  # what `dbt parse` published
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"nodes": dict([
        _model("stg_business__orders", folder="staging"),
        _model("stg_business__customers", folder="staging"),
        _model("business_kpis_daily", "stg_business__orders", "stg_business__customers",
               folder="marts"),
        ("test.lakeops.relationships_orders_customers.abc", {
            "resource_type": "test", "name": "relationships_orders_customers",
            "package_name": "lakeops",
            "depends_on": {"nodes": ["model.lakeops.stg_business__orders",
                                     "model.lakeops.stg_business__customers"]}}),
    ])}))

    dag = _dag(home, monkeypatch)

    _check_common(dag)
    models = ("stg_business__orders", "stg_business__customers", "business_kpis_daily")
    assert {t.task_id for t in dag.tasks} == {"dbt_docs"} | {
        f"{step}_{m}" for m in models for step in ("run", "test")}
    assert dag.get_task("run_business_kpis_daily").upstream_task_ids == {
        "test_stg_business__orders", "test_stg_business__customers"}
    assert dag.get_task("test_business_kpis_daily").upstream_task_ids == {
        "run_business_kpis_daily"}
    # the relationships test runs once, after both of its models
    owners = [m for m in models[:2] if dag.get_task(f"test_{m}").upstream_task_ids == {
        "run_stg_business__orders", "run_stg_business__customers"}]
    assert len(owners) == 1
    assert [a.uri for a in dag.get_task("run_business_kpis_daily").outlets] == [
        "lakeops://marts/business_kpis_daily"]
    assert dag.get_task("dbt_docs").upstream_task_ids == {f"test_{m}" for m in models}


def test_unusable_manifest_falls_back_to_one_build(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "home" / "dbt" / "dag-manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text('{"nodes": {"model.lakeops.x": {"resource_type": "mo')  # damaged

    dag = _dag(tmp_path / "home", monkeypatch)

    assert {t.task_id for t in dag.tasks} == {"dbt_parse", "dbt_build", "dbt_docs"}


def test_a_dbt_task_rewriting_its_manifest_does_not_reshape_the_dag(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `dbt run` a task starts rewrites target/manifest.json; the DAG processor may
    read it half written. The DAG is rendered from the copy `dbt parse` published, so a
    running run keeps its tasks (a reshaped DAG had its tasks "not found" mid-run)."""
    home = tmp_path / "home"
    published = home / "dbt" / "dag-manifest.json"
    published.parent.mkdir(parents=True)
    published.write_text(json.dumps({"nodes": dict([
        _model("stg_business__orders", folder="staging")])}))
    rewriting = home / "dbt" / "target" / "manifest.json"
    rewriting.parent.mkdir(parents=True)
    rewriting.write_text('{"nodes": {"model.lakeops.stg_busin')  # a task's dbt mid-write

    dag = _dag(home, monkeypatch)

    assert {t.task_id for t in dag.tasks} == {
        "run_stg_business__orders", "test_stg_business__orders", "dbt_docs"}
