"""The services under supervisord, without Airflow: small stand-in services declared as
entries and started through the real supervisord, the real docs site and SQL endpoint;
ports checked before anything starts, restarts with back-off, whole process trees stopped
and nobody else's process touched, the environment handed over intact."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from tests.support import platform_settings

from lakeops import services
from lakeops.core.settings import Settings
from lakeops.services import launch, specs
from lakeops.services.airflow import base_env
from lakeops.services.health import Http
from lakeops.services.ports import free_port


@pytest.fixture
def svc_settings(tmp_path: Path) -> Iterator[Settings]:
    settings = platform_settings(tmp_path / "home", airflow_parallelism=3)
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


WEB = specs.Service(
    "web",
    lambda s: [sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
               str(s.superset_port)],
    port_setting="superset_port", health=Http("/"), title="Web UI",
    links=(specs.Link("Web UI", "/"),),
)


TREE = specs.Service("tree", _sh("setsid sleep 301 & sleep 302 & sleep 303; wait"))


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


def test_environment_reaches_the_program_intact_and_stays_private(
    tmp_path: Path, stand_ins: object
) -> None:
    # a state folder too deep for a unix socket path: the socket moves to the temp folder
    settings = Settings(home=tmp_path / ("deep" * 20) / "home", superset_port=free_port())
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
