"""The services under supervisord, without Airflow: small stand-in services declared as
entries and started through the real supervisord, the real docs site and SQL endpoint,
the environment of the Airflow processes, and the docs site itself."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.conftest import docs_server, raw_get
from typer.testing import CliRunner

from lakeops import services
from lakeops.core.settings import Settings
from lakeops.services import launch, specs
from lakeops.services.airflow import base_env
from lakeops.services.docs_site import make_server
from lakeops.services.health import Http
from lakeops.storage.lake import Lake


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def svc_settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(
        home=tmp_path / "home",
        airflow_port=_free_port(),
        mlflow_port=_free_port(),
        docs_port=_free_port(),
        flight_port=_free_port(),
        superset_port=_free_port(),
        airflow_parallelism=3,
    )
    yield settings
    services.down(settings)  # whatever a test left running


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """Somebody else's server on a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def _sh(script: str) -> Callable[[Settings], list[str]]:
    return lambda s: ["sh", "-c", script]


# stand-in services, declared like the real ones
WEB = specs.Service(
    "web",
    lambda s: [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
               str(s.superset_port)],
    port_setting="superset_port", health=Http("/"), title="Web UI",
    links=(specs.Link("Web UI", "/"),),
)
# a shell with a child, and a grandchild in a session of its own (as Airflow's task
# processes are)
TREE = specs.Service("tree", _sh("setsid sleep 301 & sleep 302 & sleep 303; wait"))
# runs until the test drops a marker file, then crashes at every start
CRASHY = specs.Service(
    "crashy", _sh('echo "crashy here"; test -e "$LAKEOPS_HOME/crash" && exit 3; sleep 300'),
)
SECRET = "p%w,d 'q\"u=o;te$HOME"
ENVY = specs.Service(
    "envy", _sh('printf "secret=[%s]\\n" "$LAKEOPS_TEST_SECRET"; sleep 300'),
    environment=lambda s: {**base_env(s), "LAKEOPS_TEST_SECRET": SECRET},
)


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> tuple[specs.Service, ...]:
    entries = (WEB, TREE, CRASHY, ENVY)
    monkeypatch.setattr(specs, "SERVICES", entries)
    return entries


def _wait(predicate: Callable[[], object], timeout: float = 15, step: float = 0.2) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(step)
    raise AssertionError(f"not true within {timeout} s")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _status(settings: Settings, name: str) -> services.ServiceStatus:
    return next(s for s in services.status(settings) if s.name == name)


def _sleeper_tree() -> subprocess.Popen[bytes]:
    """Somebody else's process tree, in a session of its own."""
    return subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300; wait"],
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


# --------------------------------------------------------------------------- ports, names


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
    # checked before anything started: not even supervisord, nor the docs site
    assert all(s.pid is None for s in services.status(settings))
    assert not (settings.log_dir / "docs.log").exists()
    assert not (settings.run_dir / "supervisord.json").exists()


def test_a_new_entry_gets_the_port_check(
    svc_settings: Settings, stand_ins: object, listening_socket: socket.socket
) -> None:
    settings = svc_settings.model_copy(
        update={"superset_port": listening_socket.getsockname()[1]})
    with pytest.raises(services.PortInUseError, match="service web .*LAKEOPS_SUPERSET_PORT"):
        services.up(settings, ["web"], timeout=30)


def test_unknown_service_is_rejected(svc_settings: Settings) -> None:
    with pytest.raises(ValueError, match="kafka"):
        services.up(svc_settings, ["kafka"])


def test_any_airflow_component_brings_the_whole_group() -> None:
    names = [s.name for s in specs.select(["airflow-scheduler"])]
    assert names == [s.name for s in specs.SERVICES if s.group == "airflow"]
    assert [s.name for s in specs.select(["airflow", "docs"])][0] == "docs"


# --------------------------------------------------------------------------- supervision


def test_a_killed_service_comes_back_by_itself(
    svc_settings: Settings, stand_ins: object
) -> None:
    [first] = services.up(svc_settings, ["web"], timeout=30)
    assert first.healthy and first.restarts == 0 and first.state == "RUNNING"
    assert (svc_settings.run_dir / "supervisord.conf").exists()

    killed = time.monotonic()
    os.kill(first.pid, signal.SIGKILL)
    back = _wait(lambda: (s := _status(svc_settings, "web")).healthy and s.pid != first.pid
                 and s)
    took = time.monotonic() - killed

    assert isinstance(back, services.ServiceStatus)
    assert back.restarts == 1 and back.pid != first.pid and took < 5
    assert back.uptime_s is not None and back.uptime_s < 10
    assert httpx.get(f"http://127.0.0.1:{svc_settings.superset_port}/").status_code == 200
    log = (svc_settings.log_dir / "web.log").read_text()
    assert f"restart #1 of web (pid {back.pid}): the previous run (pid {first.pid})" in log
    supervisord_log = (svc_settings.log_dir / "supervisord.log").read_text()
    assert "exited: web (terminated by SIGKILL; not expected)" in supervisord_log


def test_a_crash_looping_service_backs_off_and_is_reported(
    svc_settings: Settings, stand_ins: object
) -> None:
    services.up(svc_settings, ["crashy"], timeout=30)
    (svc_settings.home / "crash").touch()
    os.kill(_status(svc_settings, "crashy").pid, signal.SIGKILL)

    starts_file = svc_settings.run_dir / "starts" / "crashy"
    _wait(lambda: len(launch.read_starts(str(starts_file))) >= 5, timeout=30)
    status = _status(svc_settings, "crashy")

    starts = launch.read_starts(str(starts_file))
    delays = [delay for _, delay, _ in starts]
    gaps = [b[0] - a[0] for a, b in zip(starts, starts[1:], strict=False)]
    assert delays[:5] == [0, 1, 2, 4, 8]  # doubling after each short run
    # each restart waited out its delay (supervisord's own loop adds up to a second)
    assert all(gap >= delay for gap, delay in zip(gaps[1:], delays[1:4], strict=False))
    assert gaps[3] > gaps[1] + 1, gaps  # spaced increasingly (delays 1 s, then 4 s)
    assert status.restarts >= 4 and not status.healthy
    assert "back-off" in status.detail or status.state != "RUNNING"
    log = (svc_settings.log_dir / "crashy.log").read_text()
    assert "restart #3 of crashy" in log and "back-off 4 s" in log
    assert log.count("crashy here") >= 5


def test_a_service_that_dies_on_start_is_reported_with_its_log(svc_settings: Settings) -> None:
    # TLS asked for without a certificate: the SQL endpoint exits at once, saying why
    settings = svc_settings.model_copy(update={"flight_tls": True})

    with pytest.raises(services.ServiceStartError, match="sql exited") as err:
        services.up(settings, ["sql"], timeout=60)

    assert "LAKEOPS_FLIGHT_TLS_CERT" in str(err.value)
    sql = _status(settings, "sql")
    assert sql.pid is None and sql.state == "STOPPED"  # stopped: no crash loop behind it
    assert services.down(settings) == []


def test_up_is_idempotent_and_down_stops_a_real_service(svc_settings: Settings) -> None:
    first = services.up(svc_settings, ["docs"], timeout=60)
    second = services.up(svc_settings, ["docs"], timeout=60)

    assert [s.name for s in first] == ["docs"]
    assert first[0].healthy and first[0].pid is not None
    assert second[0].pid == first[0].pid and second[0].restarts == 0
    assert httpx.get(f"{svc_settings.docs_url}/").status_code == 200
    assert (svc_settings.log_dir / "docs.log").exists()

    assert services.down(svc_settings) == ["docs"]
    assert not _alive(first[0].pid)
    assert _status(svc_settings, "docs").pid is None
    assert services.down(svc_settings) == []


def test_down_stops_the_whole_tree_and_spares_foreign_pids(
    svc_settings: Settings, stand_ins: object
) -> None:
    foreign = _sleeper_tree()
    try:
        [tree_status] = services.up(svc_settings, ["tree"], timeout=30)
        root = psutil.Process(tree_status.pid)
        tree = _wait(lambda: len(kids := root.children(recursive=True)) >= 3 and kids)
        assert isinstance(tree, list)
        own_session = [p for p in tree if os.getsid(p.pid) == p.pid]
        assert own_session, "the stand-in has a process in a session of its own"
        supervisord = json.loads((svc_settings.run_dir / "supervisord.json").read_text())

        assert services.down(svc_settings) == ["tree"]

        pids = [root.pid, supervisord["pid"], *(p.pid for p in tree)]
        assert [p for p in pids if _alive(p)] == []
        assert foreign.poll() is None  # not ours: untouched
        assert not list((svc_settings.run_dir / "programs").glob("*.json"))
    finally:
        os.killpg(foreign.pid, signal.SIGKILL)
        foreign.wait()


def test_a_recycled_supervisord_pid_is_never_killed(svc_settings: Settings) -> None:
    foreign = _sleeper_tree()
    try:
        svc_settings.run_dir.mkdir(parents=True)
        # same pid, another start time: somebody else's process now
        (svc_settings.run_dir / "supervisord.json").write_text(
            json.dumps({"pid": foreign.pid, "create_time": 1.0}))

        assert all(s.pid is None and not s.healthy for s in services.status(svc_settings))
        assert services.down(svc_settings) == []
        assert foreign.poll() is None
    finally:
        os.killpg(foreign.pid, signal.SIGKILL)
        foreign.wait()


def test_down_stops_what_a_pre_supervisord_up_started(svc_settings: Settings) -> None:
    """An upgrade: ``run/services.json`` of the hand-written supervisor."""
    ours, foreign = _sleeper_tree(), _sleeper_tree()
    try:
        time.sleep(0.2)  # let the shells fork their sleeps
        tree = [ours.pid, *(c.pid for c in psutil.Process(ours.pid).children(recursive=True))]

        def record(proc: subprocess.Popen[bytes], create_time: float) -> dict[str, object]:
            return {"pid": proc.pid, "pgid": proc.pid, "create_time": create_time}

        svc_settings.run_dir.mkdir(parents=True)
        (svc_settings.run_dir / "services.json").write_text(json.dumps({"services": {
            "docs": record(ours, psutil.Process(ours.pid).create_time()),
            "mlflow": record(foreign, 1.0),  # a recycled pid
        }}))

        assert services.down(svc_settings) == ["docs"]

        _wait(lambda: not any(_alive(p) for p in tree), timeout=10)
        assert foreign.poll() is None
        assert not (svc_settings.run_dir / "services.json").exists()
    finally:
        for proc in (ours, foreign):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_unreadable_state_counts_as_nothing_running(svc_settings: Settings) -> None:
    svc_settings.run_dir.mkdir(parents=True)
    (svc_settings.run_dir / "supervisord.json").write_text("{not json")

    assert all(s.pid is None and not s.healthy for s in services.status(svc_settings))
    assert services.down(svc_settings) == []


def test_environment_reaches_the_program_intact_and_stays_private(
    tmp_path: Path, stand_ins: object
) -> None:
    # a state folder too deep for a unix socket path: the socket moves to the temp folder
    settings = Settings(home=tmp_path / ("deep" * 20) / "home", superset_port=_free_port())
    try:
        services.up(settings, ["envy"], timeout=30)
        log = settings.log_dir / "envy.log"
        _wait(lambda: "secret=" in log.read_text())

        assert f"secret=[{SECRET}]" in log.read_text()
        program = settings.run_dir / "programs" / "envy.json"
        assert program.stat().st_mode & 0o777 == 0o600
        assert SECRET not in (settings.run_dir / "supervisord.conf").read_text()
        assert (settings.run_dir / "supervisord.conf").stat().st_mode & 0o077 == 0
        assert not (settings.run_dir / "supervisor.sock").exists()
    finally:
        assert services.down(settings) == ["envy"]
    assert not program.exists()


# --------------------------------------------------------------------------- entries


def test_menu_links_and_access_table_come_from_the_entries(
    svc_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    superset = specs.Service(
        "superset", _sh("sleep 300"), port_setting="superset_port", title="Superset",
        login=lambda s: "user admin", links=(specs.Link("Superset", "/superset/welcome/"),),
    )
    monkeypatch.setattr(specs, "SERVICES", (*specs.SERVICES, superset))
    for key, value in services.lakeops_env(svc_settings).items():
        monkeypatch.setenv(key, value)

    importlib.reload(importlib.import_module("lakeops.airflow.ui"))  # the class, anew
    plugin = importlib.reload(importlib.import_module("lakeops_airflow_plugin"))
    views = {v["name"]: v for v in plugin.LakeopsPlugin.external_views}
    assert views["Superset"] == {
        "name": "Superset", "href": f"{svc_settings.url(svc_settings.superset_port)}"
        "/superset/welcome/", "destination": "nav", "category": "browse"}
    assert views["MLflow"]["href"] == f"{svc_settings.mlflow_url}/"
    assert views["dbt docs"]["href"] == f"{svc_settings.docs_url}/dbt_docs/index.html"

    from lakeops.cli.app import app

    printed = CliRunner().invoke(app, ["status"]).output
    assert "superset" in printed and "restarts" in printed and "uptime" in printed
    from lakeops.cli.platform import print_access

    capsys.readouterr()
    print_access(svc_settings)
    table = capsys.readouterr().out
    assert f"Superset     {svc_settings.url(svc_settings.superset_port)}  user admin" in table
    assert f"Airflow UI   {svc_settings.airflow_url}  user admin  password " in table
    assert f"SQL (Flight) grpc+tcp://127.0.0.1:{svc_settings.flight_port}" in table


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
    with docs_server(root) as base:
        yield root, base


def test_docs_site_serves_reports_and_lists_folders(docs_root: tuple[Path, str]) -> None:
    _, base = docs_root

    index = httpx.get(f"{base}/")
    assert index.status_code == 200
    assert 'href="gx/"' in index.text and 'href="drift/"' in index.text
    assert httpx.get(f"{base}/gx/").text == "<h1>data docs</h1>"
    assert "2024-10-01.html" in httpx.get(f"{base}/drift/").text


def test_docs_site_refuses_paths_outside_reports(docs_root: tuple[Path, str]) -> None:
    _, base = docs_root

    assert raw_get(base, "/../secret.txt") == 404
    assert raw_get(base, "/gx/%2e%2e/%2e%2e/secret.txt") == 404
    assert raw_get(base, "/escape/secret.txt") == 404


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
        assert raw_get(base, "/../curated/secret.txt") == 404
        assert raw_get(base, "/gx/%2e%2e/%2e%2e/curated/secret.txt") == 404
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


def test_the_cluster_profile_adds_the_production_engines(tmp_path: Path) -> None:
    """LAKEOPS_PROFILE=cluster: Postgres and Redis first, the Spark cluster, the embedded
    services, the Celery workers last; the scheduler leaves tasks to Celery."""
    from lakeops.core.settings import Profile

    settings = Settings(home=tmp_path, profile=Profile.CLUSTER, cluster_celery_workers=3)
    names = specs.service_names(settings)
    assert names[:5] == ("postgres", "redis", "spark-master", "spark-worker-1",
                         "spark-worker-2")
    assert names[-3:] == ("airflow-worker-1", "airflow-worker-2", "airflow-worker-3")
    assert set(specs.service_names(Settings(home=tmp_path))) < set(names)
    scheduler = next(s for s in specs.entries(settings) if s.name == "airflow-scheduler")
    assert "lakeops.airflow.warm" not in scheduler.command(settings)
    # `lakeops up airflow` brings the Celery workers; `up spark` the master and workers
    assert {s.name for s in specs.select(["airflow"], settings)} >= {
        "airflow-worker-1", "airflow-scheduler"}
    assert [s.name for s in specs.select(["spark"], settings)] == [
        "spark-master", "spark-worker-1", "spark-worker-2"]


def test_the_cluster_profile_configures_celery_postgres_and_spark(tmp_path: Path) -> None:
    from lakeops.core.settings import Profile
    from lakeops.services import cluster

    settings = Settings(home=tmp_path, profile=Profile.CLUSTER, postgres_port=6543,
                        redis_port=6390, spark_master_port=7177)
    env = services.airflow_env(settings)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__PARALLELISM"] == "4"  # 2 workers x 2 slots
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
        "postgresql+psycopg2://airflow:")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@127.0.0.1:6543/airflow")
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6390/0"
    assert settings.spark_master == "spark://127.0.0.1:7177"
    mlflow = next(s for s in specs.entries(settings) if s.name == "mlflow")
    assert "postgresql://mlflow:" in " ".join(mlflow.command(settings))
    # each database's password is generated once and kept in the state folder
    assert cluster.postgres_password(settings, "airflow") == \
        cluster.postgres_password(settings, "airflow") != cluster.postgres_password(settings)
    local = Settings(home=tmp_path)
    assert services.airflow_env(local)["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert local.spark_master == "local[*]"


def test_a_cluster_service_brings_what_it_needs(tmp_path: Path) -> None:
    from lakeops.core.settings import Profile

    settings = Settings(home=tmp_path, profile=Profile.CLUSTER)
    assert [s.name for s in specs.select(["mlflow"], settings)] == ["postgres", "mlflow"]
    assert {"postgres", "redis"} <= {s.name for s in specs.select(["airflow"], settings)}
    assert [s.name for s in specs.select(["mlflow"], Settings(home=tmp_path))] == ["mlflow"]
