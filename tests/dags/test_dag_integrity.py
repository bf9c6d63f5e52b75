"""Every DAG in ``dags/`` loads, carries docs, an owner, retries and tags, and parsing its
file loads no heavy library (checked in a fresh interpreter, as the dag-processor parses)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lakeops.airflow import dag_checks
from lakeops.catalog import dags
from lakeops.catalog.contracts import TABLES

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p.name for p in DAGS.glob("*.py"))
# The longest a DAG file may take to parse: a tenth of Airflow's dagbag_import_timeout
# (30 s), past which the dag-processor gives up on the file. The files parse in 0.05-0.25 s
# here: a loaded machine has ten times that room, and a file that took on a heavy import at
# parse time (GX or pyspark: 2-5 s) fails it.
PARSE_BUDGET_S = 3.0


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    os.environ["LAKEOPS_HOME"] = str(tmp_path_factory.mktemp("home"))
    try:
        return DagBag(dag_folder=str(DAGS))
    finally:
        del os.environ["LAKEOPS_HOME"]


def test_no_import_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == sorted(dags.ALL)  # the catalog names every DAG


def test_every_dag_has_docs_owner_retries_tags(dagbag) -> None:  # type: ignore[no-untyped-def]
    problems = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        if not (dag.doc_md and len(dag.doc_md) > 100):
            problems.append(f"{dag_id}: doc_md missing or shorter than 100 characters")
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        if not dag.tasks:
            problems.append(f"{dag_id}: no task")
        for t in dag.tasks:
            if not t.owner or t.owner == "airflow":
                problems.append(f"{dag_id}.{t.task_id}: no owner")
            if t.retries < 1:
                problems.append(f"{dag_id}.{t.task_id}: no retries")
    assert problems == []


@pytest.fixture(scope="module")
def parse_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dag_checks.DagFileReport]:
    env = {**os.environ, "LAKEOPS_HOME": str(tmp_path_factory.mktemp("home"))}
    return {r.path.name: r for r in dag_checks.check_folder(DAGS, env)}


@pytest.mark.parametrize("name", DAG_FILES)
def test_parsing_a_dag_file_loads_no_heavy_library(
        parse_reports: dict[str, dag_checks.DagFileReport], name: str,
        record_property: pytest.RecordProperty) -> None:
    report = parse_reports[name]
    record_property("parse_seconds", round(report.seconds, 3))
    assert report.error == ""
    assert report.dag_ids, f"{name} defines no DAG"
    assert report.heavy == [], f"{name} loads {report.heavy} at parse time"


@pytest.mark.parametrize("name", DAG_FILES)
def test_a_dag_file_parses_within_the_budget(
        parse_reports: dict[str, dag_checks.DagFileReport], name: str) -> None:
    seconds = parse_reports[name].seconds
    assert 0 < seconds < PARSE_BUDGET_S, f"{name} took {seconds:.2f} s to parse"


def test_parse_times_are_reported(parse_reports: dict[str, dag_checks.DagFileReport],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    text = dag_checks.table(list(parse_reports.values()))
    with capsys.disabled():
        print("\n" + text)
    for name in DAG_FILES:
        assert name in text


def test_the_check_catches_a_heavy_import_at_the_top_of_a_dag_file(tmp_path: Path) -> None:
    bad = tmp_path / "train_model.py"
    bad.write_text(
        "import mlflow\n"
        "import pendulum\n"
        "from airflow.sdk import DAG, task\n"
        "with DAG('train_model', start_date=pendulum.datetime(2024, 1, 1), schedule=None) as dag:\n"
        "    task(task_id='train')(lambda: mlflow.__version__)()\n"
    )
    good = tmp_path / "fine.py"
    good.write_text(
        "import pendulum\n"
        "from airflow.sdk import DAG, task\n"
        "def train():\n"
        "    import mlflow\n"
        "    return mlflow.__version__\n"
        "with DAG('fine', start_date=pendulum.datetime(2024, 1, 1), schedule=None) as dag:\n"
        "    task(task_id='train')(train)()\n"
    )
    reports = {r.path.name: r for r in dag_checks.check_folder(tmp_path)}

    assert "mlflow" in reports["train_model.py"].heavy
    assert not reports["train_model.py"].ok
    assert reports["train_model.py"].dag_ids == ["train_model"]
    assert reports["fine.py"].ok and reports["fine.py"].dag_ids == ["fine"]
    assert "imports mlflow" in dag_checks.table(list(reports.values()))


def test_a_dag_file_that_fails_to_import_is_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("from lakeops import no_such_module\n")

    (report,) = dag_checks.check_folder(tmp_path)

    assert not report.ok and "no_such_module" in report.error


@pytest.mark.parametrize("source", list(TABLES))
def test_ingest_dag_shape(dagbag, source: str) -> None:  # type: ignore[no-untyped-def]
    from lakeops.catalog import datasets
    from lakeops.catalog.contracts import get_contract
    from lakeops.validate.workspace import fk_parents, parent_tables

    dag = dagbag.dags[dags.ingest_dag(source)]
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
        assert publish.outlets[0].name == datasets.curated(source, table).name
    assert dag.get_task("record_manifest").upstream_task_ids == {
        f"ingest_{t}" for t in TABLES[source]
    }
    assert dag.catchup is False


@pytest.mark.parametrize("source", ["education", "business"])
def test_feature_dags_are_scheduled_on_what_they_read(dagbag, source: str) -> None:  # type: ignore[no-untyped-def]
    from lakeops.catalog import datasets

    job = datasets.FEATURE_JOBS[source]
    dag = dagbag.dags[dags.features_dag(source)]
    assert {a.uri for a in dag.timetable.asset_condition.objects} == {
        f"lakeops://curated/{source}/{d.table}" for d in job.inputs}
    (task,) = dag.tasks
    assert [a.uri for a in task.outlets] == [f"lakeops://{job.output.path}"]
