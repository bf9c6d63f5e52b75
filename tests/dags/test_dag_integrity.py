"""Every DAG imports, wires only, and carries docs, an owner, retries and tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeops.contracts import TABLES

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert dagbag.dags, "no DAG was found"


def _dag_ids() -> list[str]:
    return [f"ingest_{source}" for source in TABLES]


@pytest.mark.parametrize("dag_id", _dag_ids())
def test_dag_has_docs_owner_retries_tags(dagbag, dag_id: str) -> None:  # type: ignore[no-untyped-def]
    dag = dagbag.dags.get(dag_id)
    assert dag is not None, f"{dag_id} missing"
    assert dag.doc_md and len(dag.doc_md) > 100
    assert dag.tags
    for t in dag.tasks:
        assert t.owner and t.owner != "airflow", f"{t.task_id} has no owner"
        if not t.task_id.startswith("wait_for"):
            assert t.retries >= 1, f"{t.task_id} has no retries"


@pytest.mark.parametrize("source", list(TABLES))
def test_ingest_dag_shape(dagbag, source: str) -> None:  # type: ignore[no-untyped-def]
    from lakeops.contracts import get_contract
    from lakeops.validate import fk_parents, parent_tables

    dag = dagbag.dags[f"ingest_{source}"]
    ids = {t.task_id for t in dag.tasks}
    per_table = {f"{step}_{t}" for t in TABLES[source] for step in ("ingest", "validate",
                                                                    "publish")}
    assert ids == {"wait_for_delivery", "record_manifest"} | per_table
    sensor = dag.get_task("wait_for_delivery")
    assert sensor.mode == "reschedule" and sensor.timeout > 0
    for table in TABLES[source]:
        ingest = dag.get_task(f"ingest_{table}")
        assert ingest.upstream_task_ids == {"wait_for_delivery"}
        # write-audit-publish: validation waits for the table and every parent it checks,
        # and for its foreign-key parents to be published (their quarantine applies)
        contract = get_contract(source, table)
        parents = {f"ingest_{p}" for p in parent_tables(contract)} | {
            f"publish_{p}" for p in fk_parents(contract)}
        assert dag.get_task(f"validate_{table}").upstream_task_ids == {f"ingest_{table}"} | parents
        publish = dag.get_task(f"publish_{table}")
        assert publish.upstream_task_ids == {f"validate_{table}"}
        assert [a.uri for a in publish.outlets] == [f"lakeops://curated/{source}/{table}"]
    assert dag.get_task("record_manifest").upstream_task_ids == {
        f"ingest_{t}" for t in TABLES[source]
    }
    assert dag.catchup is False


def test_dag_files_do_no_heavy_imports() -> None:
    """DAG files import only wiring: no pandas/duckdb/pyarrow/spark at parse time."""
    heavy = ("pandas", "duckdb", "pyarrow", "pyspark", "sklearn", "mlflow", "evidently")
    for path in DAGS.glob("*.py"):
        lines = [ln for ln in path.read_text().splitlines() if ln.startswith(("import", "from"))]
        for line in lines:
            assert not any(f" {h}" in line for h in heavy), f"{path.name}: {line}"
