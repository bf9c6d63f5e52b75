"""The production topology for real (LAKEOPS_PROFILE=cluster): Postgres, Redis, Airflow
with the CeleryExecutor and two Celery workers, a Spark standalone master and two
workers, MLflow on Postgres - local processes, on free loopback ports, in a throw-away
state folder. The demo's intervals run through it; one Celery worker and one Spark worker
are killed (SIGKILL) mid-run and the run still completes, with no duplicate row; at the
end nothing of it is left running."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date

import httpx
import psutil
import pytest
from tests.support import platform_settings

from lakeops import services
from lakeops.catalog.contracts import TABLES, get_contract
from lakeops.core.settings import Profile, Settings
from lakeops.demo import run as demo
from lakeops.services import cluster as cluster_mod
from lakeops.storage.lake import Lake

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

START, DAYS = date(2024, 10, 1), 2
KILLED: dict[str, int] = {}


def _pid(settings: Settings, name: str) -> int | None:
    return next((s.pid for s in services.status(settings) if s.name == name), None)


def _kill_mid_run(settings: Settings, lines: list[str], stop: threading.Event) -> None:
    """SIGKILL airflow-worker-1 once ingest runs, spark-worker-1 once a Spark app runs."""
    while not stop.is_set() and len(KILLED) < 2:
        if "airflow-worker-1" not in KILLED and any(
                line.startswith("ingest_") and "running=" in line for line in lines):
            pid = _pid(settings, "airflow-worker-1")
            if pid:
                os.kill(pid, signal.SIGKILL)
                KILLED["airflow-worker-1"] = pid
        if "spark-worker-1" not in KILLED:
            try:
                running = cluster_mod.spark_master_state(settings).get("activeapps")
            except (httpx.HTTPError, ValueError):
                running = None
            pid = _pid(settings, "spark-worker-1") if running else None
            if pid:
                os.kill(pid, signal.SIGKILL)
                KILLED["spark-worker-1"] = pid
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[Settings, str, list[str], list[int]]]:
    """(settings, the demo's report, its lines, the pids of every program it ran)."""
    settings = platform_settings(tmp_path_factory.mktemp("cluster"), profile=Profile.CLUSTER)
    lines: list[str] = []
    stop = threading.Event()
    killer = threading.Thread(target=_kill_mid_run, args=(settings, lines, stop), daemon=True)
    killer.start()
    pids: list[int] = []
    try:
        report = demo.run_demo(settings, START, DAYS, scale=0.005, timeout=1800,
                               echo=lines.append, timings=settings.home / "timings.json")
        pids = [s.pid for s in services.status(settings) if s.pid]
        yield settings, report, lines, pids
    finally:
        stop.set()
        services.down(settings)
        shutil.rmtree(cluster_mod.postgres_dir(settings), ignore_errors=True)


def test_every_program_of_the_topology_runs_and_is_listed(cluster: tuple) -> None:
    settings, *_ = cluster
    statuses = {s.name: s for s in services.status(settings)}
    for name in ("postgres", "redis", "spark-master", "spark-worker-1", "spark-worker-2",
                 "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-triggerer", "airflow-worker-1", "airflow-worker-2", "mlflow"):
        assert statuses[name].healthy, (name, statuses[name].detail)
    # the same DAGs, by configuration only: Celery on Redis, metadata on Postgres
    env = services.airflow_env(settings)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert settings.spark_master == f"spark://127.0.0.1:{settings.spark_master_port}"


def test_the_demo_completes_though_a_celery_and_a_spark_worker_were_killed(
        cluster: tuple) -> None:
    settings, report, lines, _ = cluster
    assert "FAILED runs" not in report, report + "\n".join(lines[-40:])
    assert set(KILLED) == {"airflow-worker-1", "spark-worker-1"}, (KILLED, lines[-20:])
    statuses = {s.name: s for s in services.status(settings)}
    for name, pid in KILLED.items():  # supervisord brought each back
        assert statuses[name].pid != pid and statuses[name].restarts >= 1, statuses[name]


def test_tasks_ran_on_both_celery_workers(cluster: tuple) -> None:
    settings, *_ = cluster
    received = cluster_mod.tasks_received(settings)
    for i in (1, 2):
        log = (settings.log_dir / f"airflow-worker-{i}.log").read_text(errors="replace")
        assert received.get(f"airflow-worker-{i}"), \
            f"airflow-worker-{i} ran no task:\n{log[-2000:]}"
        # the tasks' libraries were imported once, before Celery's pool forked
        preloaded = re.search(r"preloaded for forked tasks: (.*)", log)
        assert preloaded and "great_expectations" in preloaded.group(1), log[:2000]


def test_the_feature_jobs_ran_on_the_spark_cluster(cluster: tuple) -> None:
    settings, *_ = cluster
    state = cluster_mod.spark_master_state(settings)
    apps = state.get("completedapps", [])
    assert apps, state
    assert {a["name"] for a in apps} & {"features_education", "features_business"} or all(
        "feature" in a["name"] for a in apps), [a["name"] for a in apps]
    assert state.get("aliveworkers", 0) == 2, state


def test_no_duplicate_rows_after_the_kills(cluster: tuple) -> None:
    settings, *_ = cluster
    lake = Lake.from_settings(settings)
    for source, tables in TABLES.items():
        for table in tables:
            key = get_contract(source, table).primary_key
            for interval in lake.partitions("curated", f"{source}/{table}"):
                rows = lake.read_partition("curated", f"{source}/{table}", interval)
                keys = rows.select(key).to_pylist()
                assert len({tuple(k.values()) for k in keys}) == len(keys), (table, interval)
    for dataset, key in (("education/student_week", ["code_module", "code_presentation",
                                                     "id_student", "as_of_day"]),
                         ("business/customer_day", ["customer_id", "as_of_date"])):
        for interval in lake.partitions("features", dataset):
            rows = lake.read_partition("features", dataset, interval).select(key).to_pylist()
            assert len({tuple(r.values()) for r in rows}) == len(rows), (dataset, interval)


def test_down_leaves_no_process_behind(cluster: tuple) -> None:
    settings, _, _, pids = cluster
    services.down(settings)
    home = str(settings.home)
    left = [p for p in psutil.process_iter(["pid", "cmdline"])
            if p.info["pid"] in pids or home in " ".join(p.info["cmdline"] or ())]
    assert not left, [(p.pid, p.info["cmdline"]) for p in left]
    for port in (settings.postgres_port, settings.redis_port, settings.spark_master_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, port
