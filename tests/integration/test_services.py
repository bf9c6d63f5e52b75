"""The whole embedded stack for real: Airflow 3, MLflow and the docs site on free ports.

One stack per module (Airflow takes ~20-60 s to turn healthy); the tests run in file order
and the last one takes it down and looks for orphans.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from lakeops import services
from lakeops.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, list]]:
    settings = Settings(
        home=tmp_path_factory.mktemp("lakeops-home"),
        airflow_port=_free_port(),
        mlflow_port=_free_port(),
        docs_port=_free_port(),
        flight_port=_free_port(),
        airflow_parallelism=2,
    )
    started = time.monotonic()
    try:
        statuses = services.up(settings, timeout=300)
        print(f"\nup took {time.monotonic() - started:.1f} s")
        yield settings, statuses
    finally:
        services.down(settings)


def test_up_starts_every_service_healthy(stack: tuple[Settings, list]) -> None:
    _, statuses = stack

    assert {s.name for s in statuses} == set(services.SERVICE_NAMES)
    unhealthy = [(s.name, s.detail) for s in statuses if not s.healthy]
    assert unhealthy == []
    assert all(s.pid for s in statuses)


def test_airflow_login_with_the_generated_password(stack: tuple[Settings, list]) -> None:
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
    assert services.airflow_api(settings, "GET", "dags")["total_entries"] >= 0


def test_airflow_ui_links_to_mlflow_and_docs(stack: tuple[Settings, list]) -> None:
    settings, _ = stack

    plugins = services.airflow_api(settings, "GET", "plugins")["plugins"]

    links = {v["name"]: v for p in plugins for v in p["external_views"]}
    assert links["MLflow"]["href"].startswith(settings.mlflow_url)
    assert links["Validation data docs"]["href"] == f"{settings.docs_url}/data_docs/index.html"
    assert links["dbt docs"]["href"] == f"{settings.docs_url}/dbt_docs/index.html"
    assert links["Reports"]["href"].startswith(settings.docs_url)
    assert {v["destination"] for v in links.values()} == {"nav"}
    assert httpx.get(links["MLflow"]["href"]).status_code == 200


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


def test_up_again_starts_nothing_new(stack: tuple[Settings, list]) -> None:
    settings, statuses = stack
    started = time.monotonic()

    again = services.up(settings, timeout=60)

    assert {s.name: s.pid for s in again} == {s.name: s.pid for s in statuses}
    assert all(s.healthy for s in again)
    assert time.monotonic() - started < 30


def test_down_leaves_no_process_behind(stack: tuple[Settings, list]) -> None:
    settings, statuses = stack
    tree = []
    for s in statuses:
        root = psutil.Process(s.pid)
        tree += [root.pid, *(c.pid for c in root.children(recursive=True))]
    assert _processes_mentioning(settings.home)  # the check sees the running stack

    stopped = services.down(settings)

    assert sorted(stopped) == sorted(services.SERVICE_NAMES)
    assert [p for p in tree if _alive(p)] == []
    assert _processes_mentioning(settings.home) == []
    assert all(s.pid is None and not s.healthy for s in services.status(settings))
    assert services.down(settings) == []
