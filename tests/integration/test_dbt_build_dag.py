"""The ``dbt_build`` DAG (astronomer-cosmos), run for real: ``dag.test()`` of the DAG file in
a fresh interpreter on a metadata DB of its own, over the curated lake of
tests/data/test_dbt.py (its ``curated`` fixture), whose figures the marts are checked
against there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.data.test_dbt import (
    MARTS,
    check_business_kpis,
    check_education_kpis,
    check_ml_education_training,
    curated,
)

from lakeops.catalog import datasets
from lakeops.core.settings import Settings, repo_root
from lakeops.transform.dbt import parse

__all__ = ["curated"]  # the fixture, used here
pytestmark = pytest.mark.slow

_DAG_TEST = """
import json, runpy, sys
from airflow.models.asset import AssetEvent, AssetModel
from airflow.utils.session import create_session
from sqlalchemy import select

dag = runpy.run_path(sys.argv[1])["dbt_build"]
run = dag.test()
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
with create_session() as session:
    emitted = sorted(session.scalars(
        select(AssetModel.uri).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
        .where(AssetEvent.source_run_id == run.run_id)))
print(json.dumps({"state": str(run.state), "states": states, "emitted": emitted,
                  "tasks": dag.task_ids}))
"""


@pytest.mark.timeout(900)
def test_the_dbt_build_dag_builds_the_marts(
        curated: tuple[Settings, Path, dict[tuple[int, int], int]],
        tmp_path: Path) -> None:
    """``dag.test()`` of the Cosmos DAG (every task for real) in a fresh interpreter on a
    metadata DB of its own: the build, each model's task, docs; the marts hold the curated
    lake's figures and every mart's asset got an event."""
    settings, lake, planted = curated
    dags = repo_root() / "dags"
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"),
           "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "LAKEOPS_HOME": str(settings.home),
           "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False"}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    parse(settings)  # what `lakeops up` does: the manifest the DAG is rendered from

    done = subprocess.run([sys.executable, "-c", _DAG_TEST, str(dags / "dbt_build.py")],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert "dbt_producer_watcher" in result["tasks"]
    states = result["states"]
    assert result["state"] == "success", {t: s for t, s in states.items() if s != "success"}
    assert len(states) > 50  # a run and a test task per model, and more
    for name in MARTS:
        assert (lake / "marts" / name / "part-0.parquet").is_file(), name
    check_business_kpis(lake)
    check_education_kpis(lake)
    check_ml_education_training(lake, planted)
    assert (lake / "reports" / "dbt_docs" / "catalog.json").is_file()
    assert {datasets.mart(m).uri for m in datasets.MART_NAMES} <= set(result["emitted"])
