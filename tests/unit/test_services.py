"""The service supervisor without Airflow: ports, state file, environment, the docs site."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from lakeops import services
from lakeops.docs_site import make_server
from lakeops.lake import Lake
from lakeops.settings import Settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def svc_settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        airflow_port=_free_port(),
        mlflow_port=_free_port(),
        docs_port=_free_port(),
        airflow_parallelism=3,
    )


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """Somebody else's server on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def _sleeper_tree() -> subprocess.Popen[bytes]:
    """A stand-in service: a shell in its own session with a child of its own."""
    return subprocess.Popen(
        ["sh", "-c", "sleep 300 & sleep 300; wait"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _record_for(proc: subprocess.Popen[bytes], port: int, **changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "pid": proc.pid,
        "pgid": proc.pid,
        "create_time": psutil.Process(proc.pid).create_time(),
        "port": port,
        "cmd": ["sh"],
        "log": "/dev/null",
        "started_at": "2024-01-01T00:00:00+00:00",
    }
    record.update(changes)
    return record


def _write_state(settings: Settings, records: dict[str, dict[str, object]]) -> None:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    payload = {"version": 1, "services": records}
    (settings.run_dir / "services.json").write_text(json.dumps(payload))


def _wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [
            p
            for p in pids
            if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
        ]
        time.sleep(0.1)
    return alive


# --------------------------------------------------------------------------- ports


def test_port_taken_error_names_port_service_and_variable(
    svc_settings: Settings, listening_socket: socket.socket
) -> None:
    port = listening_socket.getsockname()[1]
    settings = svc_settings.model_copy(update={"mlflow_port": port})

    with pytest.raises(services.PortInUseError) as err:
        services.up(settings, ["docs", "mlflow"], timeout=30)

    message = str(err.value)
    assert str(port) in message
    assert "mlflow" in message
    assert "LAKEOPS_MLFLOW_PORT" in message
    # checked before anything started: the docs site (free port) was not started either
    assert all(s.pid is None for s in services.status(settings))
    assert not (settings.log_dir / "docs.log").exists()


def test_unknown_service_is_rejected(svc_settings: Settings) -> None:
    with pytest.raises(ValueError, match="superset"):
        services.up(svc_settings, ["superset"])


# --------------------------------------------------------------------------- state file


def test_status_trusts_a_record_only_while_its_process_is_ours(svc_settings: Settings) -> None:
    real = _sleeper_tree()
    recycled = _sleeper_tree()
    try:
        _write_state(
            svc_settings,
            {
                "docs": _record_for(real, svc_settings.docs_port),
                # same pid, different start time: the pid was reused by someone else
                "mlflow": _record_for(recycled, svc_settings.mlflow_port, create_time=1.0),
            },
        )
        by_name = {s.name: s for s in services.status(svc_settings)}

        assert by_name["docs"].pid == real.pid
        assert not by_name["docs"].healthy  # alive, but nothing answers on its port
        assert by_name["mlflow"].pid is None
        assert by_name["airflow-api-server"].pid is None
    finally:
        for proc in (real, recycled):
            os.killpg(proc.pid, 9)
            proc.wait()


def test_unreadable_state_file_counts_as_nothing_running(svc_settings: Settings) -> None:
    svc_settings.run_dir.mkdir(parents=True)
    (svc_settings.run_dir / "services.json").write_text("{not json")

    assert all(s.pid is None and not s.healthy for s in services.status(svc_settings))
    assert services.down(svc_settings) == []


def test_down_stops_the_whole_tree_and_spares_foreign_pids(svc_settings: Settings) -> None:
    ours = _sleeper_tree()
    foreign = _sleeper_tree()
    try:
        time.sleep(0.2)  # let the shells fork their sleeps
        tree = [ours.pid, *(c.pid for c in psutil.Process(ours.pid).children(recursive=True))]
        assert len(tree) >= 3
        _write_state(
            svc_settings,
            {
                "docs": _record_for(ours, svc_settings.docs_port),
                "mlflow": _record_for(foreign, svc_settings.mlflow_port, create_time=1.0),
            },
        )

        assert services.down(svc_settings) == ["docs"]

        assert _wait_gone(tree) == []
        assert foreign.poll() is None  # a recycled pid is never killed
        state = json.loads((svc_settings.run_dir / "services.json").read_text())
        assert state["services"] == {}
    finally:
        for proc in (ours, foreign):
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
            proc.wait()


def test_up_is_idempotent_and_down_stops_a_real_service(svc_settings: Settings) -> None:
    try:
        first = services.up(svc_settings, ["docs"], timeout=60)
        second = services.up(svc_settings, ["docs"], timeout=60)

        assert [s.name for s in first] == ["docs"]
        assert first[0].healthy and first[0].pid is not None
        assert second[0].pid == first[0].pid
        assert httpx.get(f"{svc_settings.docs_url}/").status_code == 200
        assert (svc_settings.log_dir / "docs.log").exists()
    finally:
        stopped = services.down(svc_settings)
    assert stopped == ["docs"]
    assert _wait_gone([first[0].pid]) == []
    assert services.status(svc_settings)[0].pid is None


def test_a_service_that_dies_on_start_is_reported_with_its_log(svc_settings: Settings) -> None:
    # TLS asked for without a certificate: the SQL endpoint exits at once, saying why
    settings = svc_settings.model_copy(update={"flight_tls": True, "flight_port": _free_port()})

    with pytest.raises(services.ServiceStartError, match="sql exited") as err:
        services.up(settings, ["sql"], timeout=30)

    assert "LAKEOPS_FLIGHT_TLS_CERT" in str(err.value)
    assert services.down(settings) == []


# --------------------------------------------------------------------------- environment


def test_airflow_env_runs_localexecutor_on_sqlite_in_the_state_folder(
    svc_settings: Settings,
) -> None:
    env = services.airflow_env(svc_settings)
    home = svc_settings.airflow_home

    assert env["AIRFLOW_HOME"] == str(home)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{home}/airflow.db"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "3"
    assert int(env["AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG"]) <= 3
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(svc_settings.dags_folder)
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(svc_settings.plugins_folder)
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == (
        f"http://127.0.0.1:{svc_settings.airflow_port}/execution/"
    )
    assert env["AIRFLOW__API__WORKERS"] == "1"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith(str(home))
    # tasks see the same state folder
    assert env["LAKEOPS_HOME"] == str(svc_settings.home)
    assert env["LAKEOPS_AIRFLOW_PORT"] == str(svc_settings.airflow_port)
    # secrets are generated once and stable
    assert (
        env["AIRFLOW__API_AUTH__JWT_SECRET"]
        == (services.airflow_env(svc_settings)["AIRFLOW__API_AUTH__JWT_SECRET"])
    )
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] != env["AIRFLOW__API__SECRET_KEY"]


def test_lakeops_env_rebuilds_the_same_settings(
    svc_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEOPS_HOME", "/somewhere/else")
    monkeypatch.setenv("LAKEOPS_SECRET_PII_HMAC_KEY", "injected")
    env = services.airflow_env(svc_settings)
    assert env["LAKEOPS_HOME"] == str(svc_settings.home)  # the settings win
    assert env["LAKEOPS_SECRET_PII_HMAC_KEY"] == "injected"  # injected secrets pass through

    for key, value in services.lakeops_env(svc_settings).items():
        monkeypatch.setenv(key, value)
    assert Settings().model_dump() == svc_settings.model_dump()


def test_fernet_key_is_valid(svc_settings: Settings) -> None:
    from cryptography.fernet import Fernet

    Fernet(services.airflow_env(svc_settings)["AIRFLOW__CORE__FERNET_KEY"])


# --------------------------------------------------------------------------- docs site


@pytest.fixture
def docs_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "lake" / "reports"
    (root / "gx").mkdir(parents=True)
    (root / "gx" / "index.html").write_text("<h1>data docs</h1>")
    (root / "drift").mkdir()
    (root / "drift" / "2024-10-01.html").write_text("drift!")
    (tmp_path / "lake" / "secret.txt").write_text("do not serve")
    (root / "escape").symlink_to(tmp_path / "lake")
    server = make_server("127.0.0.1", 0, root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _raw_get(base: str, path: str) -> int:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


def test_docs_site_serves_reports_and_lists_folders(docs_root: tuple[Path, str]) -> None:
    _, base = docs_root

    index = httpx.get(f"{base}/")
    assert index.status_code == 200
    assert 'href="gx/"' in index.text and 'href="drift/"' in index.text
    assert httpx.get(f"{base}/gx/").text == "<h1>data docs</h1>"
    assert "2024-10-01.html" in httpx.get(f"{base}/drift/").text


def test_docs_site_refuses_paths_outside_reports(docs_root: tuple[Path, str]) -> None:
    _, base = docs_root

    assert _raw_get(base, "/../secret.txt") == 404
    assert _raw_get(base, "/gx/%2e%2e/%2e%2e/secret.txt") == 404
    assert _raw_get(base, "/escape/secret.txt") == 404


def test_docs_site_without_reports_yet(tmp_path: Path) -> None:
    server = make_server("127.0.0.1", 0, tmp_path / "missing")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert httpx.get(f"{base}/").status_code == 200
        assert httpx.get(f"{base}/gx/index.html").status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def _put_reports(lake: Lake) -> None:
    lake.write_bytes("reports/gx/index.html", b"<h1>data docs</h1>")
    lake.write_bytes("reports/drift/2024-10-01.html", b"drift!")
    lake.write_bytes("reports/dbt_docs/catalog.json", b'{"nodes": {}}')
    lake.write_bytes("curated/secret.txt", b"do not serve")


def test_docs_site_serves_the_reports_zone_of_an_s3_lake(s3_settings: Settings) -> None:
    lake = Lake.from_settings(s3_settings)
    server = make_server("127.0.0.1", 0, lake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        empty = httpx.get(f"{base}/")
        assert empty.status_code == 200 and "No reports yet" in empty.text
        _put_reports(lake)

        index = httpx.get(f"{base}/")
        assert 'href="gx/"' in index.text and 'href="drift/"' in index.text
        assert httpx.get(f"{base}/gx/").text == "<h1>data docs</h1>"  # its index.html
        assert httpx.get(f"{base}/gx").headers["location"] == "/gx/"
        assert "2024-10-01.html" in httpx.get(f"{base}/drift/").text
        catalog = httpx.get(f"{base}/dbt_docs/catalog.json")
        assert catalog.json() == {"nodes": {}}
        assert catalog.headers["content-type"] == "application/json"
        head = httpx.head(f"{base}/drift/2024-10-01.html")
        assert head.status_code == 200 and head.headers["content-length"] == "6"
        assert httpx.get(f"{base}/drift/missing.html").status_code == 404
        assert _raw_get(base, "/../curated/secret.txt") == 404
        assert _raw_get(base, "/gx/%2e%2e/%2e%2e/curated/secret.txt") == 404
    finally:
        server.shutdown()
        server.server_close()


def test_lakeops_up_serves_the_docs_of_an_s3_lake(s3_settings: Settings) -> None:
    settings = s3_settings.model_copy(update={"docs_port": _free_port()})
    _put_reports(Lake.from_settings(settings))
    try:
        started = services.up(settings, ["docs"], timeout=60)
        assert [s.name for s in started] == ["docs"] and started[0].healthy
        assert httpx.get(f"{settings.docs_url}/gx/").text == "<h1>data docs</h1>"
    finally:
        assert services.down(settings) == ["docs"]
