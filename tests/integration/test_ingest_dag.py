"""The ingest DAG for real: `airflow dags test`, then runs through the scheduler's REST API.

Starts Airflow's four components on free loopback ports in a throw-away state folder and
stops them by pid at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow_client.client import TaskInstanceApi
from tests.support import platform_settings

from lakeops import services
from lakeops.airflow import client as airflow_api
from lakeops.catalog import dags
from lakeops.catalog.contracts import TABLES
from lakeops.core.settings import Settings
from lakeops.onboarding import oulad
from lakeops.onboarding.oulad_release import RELEASE_ZIP
from lakeops.storage.lake import Lake
from lakeops.synthetic.generate import generate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DAY1, DAY2, DAY3 = date(2024, 10, 1), date(2024, 10, 2), date(2024, 10, 3)
DAY6 = date(2024, 10, 6)  # the OULAD release's historical load
INGEST_EDUCATION, INGEST_BUSINESS = dags.ingest_dag("education"), dags.ingest_dag("business")
FEATURES_BUSINESS = dags.features_dag("business")


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = platform_settings(tmp_path_factory.mktemp("ingest-dag"), airflow_parallelism=3,
                                 delivery_timeout_s=25, delivery_poke_s=5)
    landing = Lake.landing(settings)
    for source in TABLES:  # two delivered days; day 3 never arrives
        generate(landing, source, DAY1, 2, scale=0.002, seed=3, bad_records=0.01)
    try:
        services.up(settings, services=["airflow"], timeout=300)
        yield settings
    finally:
        services.down(settings)


def test_dags_test_ingests_an_interval(airflow: Settings) -> None:
    """`airflow dags test` runs every task of one interval in-process. A manual run at
    DAY2 covers the last complete daily interval before it: [DAY1, DAY2)."""
    env = services.airflow_env(airflow)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", INGEST_EDUCATION,
         DAY2.isoformat()],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lake = Lake.from_settings(airflow)
    for table in TABLES["education"]:
        assert lake.exists(f"raw/education/{table}/dt={DAY1}/part-0.parquet"), table
        m = lake.read_json(f"raw/education/{table}/dt={DAY1}/_manifest.json")
        assert m["rows_in"] == m["rows_written"] + m["rows_rejected"]
    runs = lake.read_partition("monitoring", "ingest_runs/education", DAY1).to_pylist()
    assert {r["table"] for r in runs} == set(TABLES["education"])
    assert sum(r["rows_rejected"] for r in runs) > 0, "planted bad records must be quarantined"


def test_scheduler_backfills_both_days(airflow: Settings) -> None:
    """A backfill through the REST API: the scheduler runs each interval's tasks."""
    airflow_api.wait_for_dag(airflow, INGEST_BUSINESS)
    # features_business runs on the curated tables' assets
    airflow_api.wait_and_unpause(airflow, [FEATURES_BUSINESS])
    airflow_api.backfill(airflow, INGEST_BUSINESS, DAY1, 2)
    runs = airflow_api.wait_for_runs(airflow, INGEST_BUSINESS, DAY1, 2, timeout=600)
    assert sorted(r["state"] for r in runs) == ["success", "success"]
    lake = Lake.from_settings(airflow)
    assert lake.partitions("raw", "business/orders") == [DAY1.isoformat(), DAY2.isoformat()]
    tis = airflow_api.task_instances(airflow, INGEST_BUSINESS, runs[0]["dag_run_id"])
    assert {t["task_id"] for t in tis} >= {f"ingest_{t}" for t in TABLES["business"]}
    assert {t["state"] for t in tis} == {"success"}
    # every delivered file is archived in the landing store (beside the lake), none left in
    # the inbox, none deleted, none copied into the lake
    landing = Lake.landing(airflow)
    assert not landing.ls(f"landing/business/orders/{DAY1}")
    assert landing.ls(f"landing/_archive/business/orders/{DAY1}")
    assert not lake.exists("landing")


def test_publishing_curated_tables_triggers_the_spark_features(airflow: Settings) -> None:
    """Data-aware scheduling: the ingest runs' publications start features_business, whose
    task runs spark-submit for the intervals that were published."""
    lake = Lake.from_settings(airflow)

    def finished() -> list[dict[str, Any]] | None:
        runs = airflow_api.list_runs(airflow, FEATURES_BUSINESS)
        done = [r for r in runs if r["state"] in airflow_api.TERMINAL]
        published = lake.partitions("features", "business/customer_day")
        return runs if done and len(done) == len(runs) and published == [
            DAY1.isoformat(), DAY2.isoformat()] else None

    runs = airflow_api.poll(finished, timeout=600, interval=5, describe=lambda: (
        f"{FEATURES_BUSINESS}: {airflow_api.list_runs(airflow, FEATURES_BUSINESS)}"))
    assert runs and {r["state"] for r in runs} == {"success"}, runs
    assert {r["run_type"] for r in runs} == {"asset_triggered"}
    assert lake.partitions("features", "business/customer_day") == [
        DAY1.isoformat(), DAY2.isoformat()]
    rows = lake.read_partition("features", "business/customer_day", DAY2).to_pylist()
    assert rows and all(r["as_of_date"] == DAY2 for r in rows)


def test_missing_delivery_fails_after_the_sensor_timeout(airflow: Settings) -> None:
    airflow_api.wait_and_unpause(airflow, [INGEST_EDUCATION])
    day3 = datetime(DAY3.year, DAY3.month, DAY3.day, tzinfo=UTC)
    run = airflow_api.trigger(airflow, INGEST_EDUCATION, dag_run_id="missing_day3",
                              logical_date=day3, data_interval_start=day3,
                              data_interval_end=day3 + timedelta(days=1))
    done = airflow_api.wait_for_run(airflow, INGEST_EDUCATION, run["dag_run_id"], timeout=300,
                                    interval=3)
    assert done["state"] == "failed"
    tis_api = TaskInstanceApi(airflow_api.airflow_client(airflow))
    ti = tis_api.get_task_instance(INGEST_EDUCATION, "missing_day3", "wait_for_delivery")
    assert ti.state is not None and ti.state.value == "failed"
    # the sensor has a retry (for a poke killed under it); Airflow 3.3 may end a
    # rescheduled sensor's attempt and retry it, but the wait is bounded from the run's
    # start: a retry past it fails at its first poke instead of waiting again
    assert ti.try_number <= ti.max_tries + 1, (ti.try_number, ti.max_tries)
    text = ""
    deadline = time.monotonic() + 60  # the lines reach the log file after the state
    while "studentVle" not in text and time.monotonic() < deadline:
        time.sleep(2)
        text = "".join(_log(tis_api, "missing_day3", n) for n in range(1, ti.try_number + 1))
    # the log names what is missing (Airflow 3.3 does not always write the final
    # "Sensor has timed out" line of a rescheduled sensor to the attempt's log)
    assert "waiting for education deliveries of 2024-10-03" in text, text[-3000:]
    assert "studentVle" in text, text[-3000:]
    if ti.try_number > 1:
        assert "did not arrive within 25 s" in text, text[-3000:]
    assert not os.path.exists(Lake.from_settings(airflow).full(
        f"raw/education/studentVle/dt={DAY3}/part-0.parquet"))


def _log(tis_api: Any, run_id: str, try_number: int) -> str:
    """One attempt's log of the sensor ('' for an attempt Airflow keeps no record of)."""
    from airflow_client.client.exceptions import NotFoundException

    try:
        return str(tis_api.get_log(INGEST_EDUCATION, run_id, "wait_for_delivery",
                                   try_number).to_dict())
    except NotFoundException:
        return ""


def test_the_oulad_release_loads_through_the_scheduler(airflow: Settings,
                                                       tmp_path: Path) -> None:
    """`lakeops load oulad`: the release's zip (here the fixture in the release's format)
    checked, delivered as a historical load and ingested by the scheduler's run of
    ingest_education: every row published, each quirk as the contracts declare."""
    fixture = Path(__file__).parents[1] / "data" / "oulad_release"
    archive = tmp_path / RELEASE_ZIP
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(fixture.glob("*.csv")):
            zf.write(f, f.name)
    lines: list[str] = []

    runs = oulad.load(airflow, oulad.check_release(archive), DAY6, timeout=600,
                      echo=lines.append)

    assert [r["run_type"] for r in runs] == ["backfill"]
    lake = Lake.from_settings(airflow)
    for table in TABLES["education"]:
        m = lake.read_json(f"curated/education/{table}/dt={DAY6}/_manifest.json")
        expected = len((fixture / f"{table}.csv").read_text().splitlines()) - 1
        assert m["delivered"] == m["published"] == expected, (table, m)
        assert m["history_from"] == "2024-08-17"
    report = "\n".join(lines)
    assert "studentInfo.imd_band: 10-20 -> 10-20%: 2 rows" in report, report
    assert "optional column(s) absent, read as null: first_name" in report, report
    # the delivery is archived as delivered
    landing = Lake.landing(airflow)
    assert landing.read_bytes(f"landing/_archive/education/studentVle/{DAY6}/studentVle.csv") \
        == (fixture / "studentVle.csv").read_bytes()
