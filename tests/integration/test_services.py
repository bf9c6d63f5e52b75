"""The whole embedded stack for real, under supervisord: Airflow 3, MLflow, the SQL
endpoint and the docs site on free ports.

One stack per module (Airflow takes ~20-60 s to turn healthy); the tests run in file order:
the scheduler is killed half-way and must come back by itself, and the last test takes the
stack down and looks for orphans.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.support import platform_settings

from lakeops import services
from lakeops.airflow import client as airflow_api
from lakeops.catalog import dags
from lakeops.core.settings import Settings
from lakeops.services import specs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _processes_mentioning(home: Path) -> list[str]:
    """Live processes whose environment or command line refer to the state folder."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            env_home = proc.environ().get("LAKEOPS_HOME", "")
        except psutil.Error:
            continue
        if str(home) in cmdline or env_home.startswith(str(home)):
            found.append(f"{proc.pid} {cmdline[:120]}")
    return found


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _by_name(settings: Settings) -> dict[str, services.ServiceStatus]:
    return {s.name: s for s in services.status(settings)}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, list]]:
    settings = platform_settings(tmp_path_factory.mktemp("lakeops-home"), airflow_parallelism=2)
    started = time.monotonic()
    try:
        statuses = services.up(settings, timeout=300)
        print(f"\nup took {time.monotonic() - started:.1f} s")
        yield settings, statuses
    finally:
        services.down(settings)


def test_up_starts_every_service_healthy(stack: tuple[Settings, list]) -> None:
    settings, statuses = stack

    assert [s.name for s in statuses] == list(specs.service_names())
    unhealthy = [(s.name, s.detail) for s in statuses if not s.healthy]
    assert unhealthy == []
    assert all(s.pid and s.state == "RUNNING" and s.restarts == 0 for s in statuses)
    conf = (settings.run_dir / "supervisord.conf").read_text()
    assert all(f"[program:{name}]" in conf for name in specs.service_names())


def test_airflow_login_with_the_generated_password(stack: tuple[Settings, list]) -> None:
    from airflow_client.client import DAGApi

    settings, _ = stack
    password = (settings.secrets_dir / "airflow-admin-password").read_text().strip()

    ok = httpx.post(
        f"{settings.airflow_url}/auth/token",
        json={"username": settings.airflow_admin_user, "password": password},
    )
    wrong = httpx.post(
        f"{settings.airflow_url}/auth/token",
        json={"username": settings.airflow_admin_user, "password": password + "x"},
    )

    assert ok.status_code == 201 and ok.json()["access_token"]
    assert wrong.status_code == 401
    for dag_id in dags.ALL:  # parsed by the dag-processor some time after start-up
        airflow_api.wait_for_dag(settings, dag_id)
    with airflow_api.airflow_client(settings) as client:
        listed = DAGApi(client).get_dags(limit=100)
    # the logged-in client sees the platform's DAGs, every one and no other
    assert sorted(d.dag_id for d in listed.dags) == sorted(dags.ALL)
    assert listed.total_entries == len(dags.ALL)


def test_an_expired_token_is_renewed(stack: tuple[Settings, list]) -> None:
    """A rejected token: the client logs in again by itself and the call answers as a
    logged-in one does (the DAGs of the platform, parsed in the previous test)."""
    from airflow_client.client import DAGApi

    settings, _ = stack
    with airflow_api.airflow_client(settings) as client:
        client.configuration.access_token = "not-a-token"
        first = DAGApi(client).get_dags(limit=1, order_by=["dag_id"])
        renewed = client.configuration.access_token
    assert renewed != "not-a-token"
    assert first.total_entries == len(dags.ALL)
    assert [d.dag_id for d in first.dags] == [min(dags.ALL)]


def test_superset_login_with_the_generated_password(stack: tuple[Settings, list]) -> None:
    """Superset runs under gunicorn from its own environment, its metadata DB in the
    state folder, an admin account with the generated password (never in a file of the
    repo), and its API answers a logged-in user."""
    settings, _ = stack
    password = (settings.secrets_dir / "superset-admin-password").read_text().strip()
    login = f"{settings.superset_url}/api/v1/security/login"
    body = {"username": settings.superset_admin_user, "provider": "db"}

    ok = httpx.post(login, json={**body, "password": password}, timeout=30)
    wrong = httpx.post(login, json={**body, "password": password + "x"}, timeout=30)

    assert ok.status_code == 200 and ok.json()["access_token"]
    assert wrong.status_code == 401
    me = httpx.get(f"{settings.superset_url}/api/v1/me/", timeout=30,
                   headers={"Authorization": f"Bearer {ok.json()['access_token']}"})
    assert me.status_code == 200 and me.json()["result"]["username"] == "admin"
    assert (settings.superset_home / "superset.db").exists()
    (superset,) = [s for s in services.status(settings) if s.name == "superset"]
    assert "gunicorn" in " ".join(psutil.Process(superset.pid).cmdline())
    assert password not in (settings.run_dir / "supervisord.conf").read_text()


def test_airflow_ui_links_come_from_the_entries(stack: tuple[Settings, list]) -> None:
    from airflow_client.client import PluginApi

    settings, _ = stack

    with airflow_api.airflow_client(settings) as client:
        plugins = PluginApi(client).get_plugins().plugins

    links = {v.name: v for p in plugins for v in p.external_views}
    assert {n: v.href for n, v in links.items()} == {
        v["name"]: v["href"] for v in specs.menu_views(settings)}
    assert links["MLflow"].href.startswith(settings.mlflow_url)
    assert links["Validation data docs"].href == f"{settings.docs_url}/data_docs/index.html"
    assert links["dbt docs"].href == f"{settings.docs_url}/dbt_docs/index.html"
    assert links["Reports"].href.startswith(settings.docs_url)
    assert {v.destination for v in links.values()} == {"nav"}
    assert httpx.get(links["MLflow"].href).status_code == 200


def test_mlflow_answers_and_keeps_artifacts_in_the_lake(stack: tuple[Settings, list]) -> None:
    settings, _ = stack
    from mlflow.tracking import MlflowClient

    assert httpx.get(f"{settings.mlflow_url}/health").text.strip() == "OK"
    client = MlflowClient(tracking_uri=settings.mlflow_url)
    experiment = client.create_experiment("services-integration")
    run = client.create_run(experiment)
    client.log_text(run.info.run_id, "hello", "notes/hello.txt")

    stored = list(Path(settings.lake, "mlflow-artifacts").rglob("hello.txt"))
    assert [p.read_text() for p in stored] == ["hello"]


def test_docs_site_serves_the_reports_zone(stack: tuple[Settings, list]) -> None:
    settings, _ = stack
    report = Path(settings.lake, "reports", "drift", "latest.html")
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<h1>drift</h1>")

    assert httpx.get(f"{settings.docs_url}/drift/latest.html").text == "<h1>drift</h1>"
    assert 'href="drift/"' in httpx.get(f"{settings.docs_url}/").text


def test_a_killed_scheduler_comes_back_by_itself(stack: tuple[Settings, list]) -> None:
    settings, _ = stack
    before = _by_name(settings)["airflow-scheduler"]
    workers = [p.pid for p in psutil.Process(before.pid).children(recursive=True)]

    killed = time.monotonic()
    os.kill(before.pid, signal.SIGKILL)
    running_after = healthy_after = None
    deadline = killed + 120
    while time.monotonic() < deadline:
        now = _by_name(settings)["airflow-scheduler"]
        if running_after is None and now.pid and now.pid != before.pid:
            running_after = time.monotonic() - killed
        if now.pid != before.pid and now.healthy:
            healthy_after = time.monotonic() - killed
            break
        time.sleep(0.5)
    print(f"\nscheduler SIGKILLed: new pid after {running_after} s, healthy after "
          f"{healthy_after} s")

    assert healthy_after is not None, now.detail
    assert now.restarts == 1 and now.state == "RUNNING"
    assert [p for p in workers if _alive(p)] == []  # the dead scheduler's executor workers
    others = {n: s.pid for n, s in _by_name(settings).items() if n != "airflow-scheduler"}
    assert others == {s.name: s.pid for s in stack[1] if s.name != "airflow-scheduler"}
    log = (settings.log_dir / "airflow-scheduler.log").read_text()
    assert f"restart #1 of airflow-scheduler (pid {now.pid})" in log
    assert "exited: airflow-scheduler (terminated by SIGKILL; not expected)" in (
        settings.log_dir / "supervisord.log").read_text()


def test_up_again_starts_nothing_new(stack: tuple[Settings, list]) -> None:
    settings, _ = stack
    current = _by_name(settings)
    started = time.monotonic()

    again = services.up(settings, timeout=60)

    assert {s.name: s.pid for s in again} == {n: s.pid for n, s in current.items()}
    assert all(s.healthy for s in again)
    assert {s.name: s.restarts for s in again}["airflow-scheduler"] == 1
    assert time.monotonic() - started < 30


def test_down_leaves_no_process_behind(stack: tuple[Settings, list]) -> None:
    settings, _ = stack
    tree = []
    for s in services.status(settings):
        root = psutil.Process(s.pid)
        tree += [root.pid, *(c.pid for c in root.children(recursive=True))]
    assert _processes_mentioning(settings.home)  # the check sees the running stack

    started = time.monotonic()
    stopped = services.down(settings)
    print(f"\ndown took {time.monotonic() - started:.1f} s")

    assert sorted(stopped) == sorted(specs.service_names())
    assert [p for p in tree if _alive(p)] == []
    assert _processes_mentioning(settings.home) == []
    assert all(s.pid is None and not s.healthy for s in services.status(settings))
    assert services.down(settings) == []
