"""The ``purge_landing`` DAG, run for real: ``dag.test()`` of the DAG file in a fresh
interpreter on a metadata DB of its own, over the three ingested days of
tests/unit/test_retention.py (its ``ingested`` fixture)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.unit.test_retention import DAYS, PURGE, PURGED_DAYS, archive_names, ingested

from lakeops.catalog import datasets
from lakeops.core.settings import Settings, repo_root
from lakeops.storage.lake import Lake

__all__ = ["ingested"]  # the fixture, used here

_DAG_TEST = """
import json, runpy, sys
import pendulum
dag = runpy.run_path(sys.argv[1])["purge_landing"]
# a run at 2024-11-03 covers the daily interval before it: [2024-11-02, 2024-11-03)
run = dag.test(logical_date=pendulum.datetime(2024, 11, 3, tz="UTC"))
print(json.dumps({"state": str(run.state),
                  "states": {ti.task_id: str(ti.state) for ti in run.get_task_instances()}}))
"""


@pytest.mark.timeout(600)
def test_the_purge_landing_dag_purges_for_its_interval(ingested: Settings,
                                                       tmp_path: Path) -> None:
    """``dag.test()`` in a fresh interpreter on a metadata DB of its own."""
    settings = ingested
    dags = repo_root() / "dags"
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"),
           "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "LAKEOPS_HOME": str(settings.home)}
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env,
                   check=True, stdout=subprocess.DEVNULL)

    done = subprocess.run([sys.executable, "-c", _DAG_TEST, str(dags / "purge_landing.py")],
                          env=env, capture_output=True, text=True, check=False, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["state"] == "success", result
    rows = Lake.from_settings(settings).read_partition(
        "monitoring", datasets.LANDING_PURGES.dataset, PURGE).to_pylist()
    assert {r["delivery_day"] for r in rows} == set(PURGED_DAYS)
    assert archive_names(Lake.landing(settings), "studentInfo", DAYS[0]) == ["_purged.json"]
