"""Supervisor of the embedded default: ``lakeops up`` / ``lakeops down`` / ``lakeops status``.

Every service is a plain child process in its own session (``start_new_session=True``),
with its output in ``<home>/logs/<name>.log``:

* ``airflow-api-server``, ``airflow-dag-processor``, ``airflow-scheduler``,
  ``airflow-triggerer`` — Airflow 3 with the LocalExecutor on a SQLite metadata DB in
  ``<home>/airflow`` (never ``airflow standalone``: it starts 32 workers and leaves orphans);
* ``mlflow`` — the tracking server on SQLite, artifacts in ``<lake>/mlflow-artifacts``;
* ``docs`` — :mod:`lakeops.docs_site`, the lake's ``reports/`` zone (folder or S3);
* ``sql`` — :mod:`lakeops.query.server`, the lakehouse SQL endpoint (Arrow Flight in
  Dremio's dialect, DuckDB over the lake: a folder, or S3 through httpfs).

What was started is recorded in ``<home>/run/services.json`` (pid, process group,
create time, port, command, log). A record counts as running only while that pid is alive
*and* has the recorded create time, so a recycled pid is never mistaken for ours; that
makes :func:`up` idempotent and lets :func:`down` stop exactly what :func:`up` started,
children before parents, down to the last process of each session.

Task processes see the same state folder: :func:`airflow_env` passes every ``LAKEOPS_*``
setting through (``LAKEOPS_HOME`` absolute). :func:`airflow_token` and :func:`airflow_api`
talk to the running Airflow as the admin user (password: :func:`airflow_admin_password`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import httpx
import psutil
from pydantic import SecretStr

from lakeops.locking import file_lock
from lakeops.secrets import get_secret, write_private
from lakeops.settings import Settings

log = logging.getLogger(__name__)

AIRFLOW_COMPONENTS = (
    "airflow-api-server",
    "airflow-dag-processor",
    "airflow-scheduler",
    "airflow-triggerer",
)
# start order; down() stops in reverse
SERVICE_NAMES = ("docs", "sql", "mlflow", *AIRFLOW_COMPONENTS)
# component name -> key in Airflow's /api/v2/monitor/health
_HEALTH_KEYS = {
    "airflow-dag-processor": "dag_processor",
    "airflow-scheduler": "scheduler",
    "airflow-triggerer": "triggerer",
}
_STATE_FILE = "services.json"
_MIGRATED_MARKER = ".lakeops-db-migrated"
_PASSWORDS_FILE = "simple_auth_manager_passwords.json"
_STOP_GRACE_S = 15.0
_CHILD_GRACE_S = 5.0


class ServiceError(RuntimeError):
    """A service could not be started or checked."""


class PortInUseError(ServiceError):
    """A port a service needs is held by a process that is not that running service."""


class ServiceStartError(ServiceError):
    """A started service exited, or did not turn healthy in time."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int | None
    url: str | None
    healthy: bool
    detail: str


@dataclass(frozen=True)
class _Spec:
    name: str
    cmd: list[str]
    env: dict[str, str]
    port: int | None
    port_var: str | None


@dataclass(frozen=True)
class _Record:
    pid: int
    pgid: int
    create_time: float
    port: int | None
    cmd: list[str]
    log: str
    started_at: str


# Popen objects of the children this interpreter started, so they are reaped, not zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


# --------------------------------------------------------------------------- environment


def lakeops_env(settings: Settings) -> dict[str, str]:
    """Every ``LAKEOPS_*`` variable that rebuilds ``settings`` in a child process."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"LAKEOPS_{name.upper()}"] = str(getattr(value, "value", value))
    env["LAKEOPS_HOME"] = str(settings.home.absolute())
    return env


def _connect_host(settings: Settings) -> str:
    return "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host


def _base_env(settings: Settings) -> dict[str, str]:
    # the settings decide every LAKEOPS_<FIELD>; LAKEOPS_SECRET_* injections pass through
    fields = {f"LAKEOPS_{name.upper()}" for name in type(settings).model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in fields}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    env.update(lakeops_env(settings))
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _fernet_key(settings: Settings) -> str:
    # token_urlsafe(32) is a Fernet key minus its base64 padding
    raw = get_secret(settings, "airflow-fernet-key", nbytes=32)
    return raw + "=" * (-len(raw) % 4)


def airflow_env(settings: Settings) -> dict[str, str]:
    """The full environment (``os.environ`` + overrides) of every Airflow process.

    Use it for ``airflow`` CLI calls and ``dag.test()`` too, so they see the same metadata
    DB, DAGs folder and ``LAKEOPS_*`` state folder as the running services. Generates the
    Airflow secrets into ``<home>/secrets`` on first use. Other inherited ``AIRFLOW__*``
    variables pass through (a local tweak such as a log level); the ones set here win.
    """
    home = settings.airflow_home.absolute()
    parallelism = str(settings.airflow_parallelism)
    api = f"http://{_connect_host(settings)}:{settings.airflow_port}"
    env = _base_env(settings)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.plugins_folder),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": parallelism,
            "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": parallelism,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(settings),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.airflow_admin_user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / _PASSWORDS_FILE),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": settings.host,
            "AIRFLOW__API__PORT": str(settings.airflow_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": get_secret(settings, "airflow-api-secret-key"),
            "AIRFLOW__API_AUTH__JWT_SECRET": get_secret(settings, "airflow-jwt-secret"),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "MLFLOW_TRACKING_URI": settings.mlflow_url,
        }
    )
    return env


def airflow_admin_password(settings: Settings) -> str:
    """Password of ``settings.airflow_admin_user`` (generated into ``<home>/secrets``)."""
    return get_secret(settings, "airflow-admin-password")


def _mlflow_env(settings: Settings) -> dict[str, str]:
    env = _base_env(settings)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    if settings.lake_is_s3:
        if settings.s3_endpoint:
            env["MLFLOW_S3_ENDPOINT_URL"] = settings.s3_endpoint
        if settings.s3_access_key:
            env["AWS_ACCESS_KEY_ID"] = settings.s3_access_key.get_secret_value()
        if settings.s3_secret_key:
            env["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_key.get_secret_value()
        env["AWS_DEFAULT_REGION"] = settings.s3_region
    return env


# --------------------------------------------------------------------------- specs


def _specs(settings: Settings) -> dict[str, _Spec]:
    py = sys.executable
    host, port = settings.host, settings.mlflow_port
    allowed = ",".join(
        sorted({f"{h}{p}" for h in (host, "localhost", "127.0.0.1") for p in ("", f":{port}")})
    )
    specs = [
        _Spec(
            "docs",
            [py, "-m", "lakeops.docs_site", "--host", host, "--port", str(settings.docs_port)],
            _base_env(settings),
            settings.docs_port,
            "LAKEOPS_DOCS_PORT",
        ),
        _Spec(
            "sql",
            [py, "-m", "lakeops.query.server", "--port", str(settings.flight_port)],
            _base_env(settings),
            settings.flight_port,
            "LAKEOPS_FLIGHT_PORT",
        ),
        _Spec(
            "mlflow",
            [
                py,
                "-m",
                "mlflow",
                "server",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{settings.mlflow_home.absolute()}/mlflow.db",
                "--artifacts-destination",
                f"{settings.lake}/mlflow-artifacts",
                "--allowed-hosts",
                allowed,
            ],
            _mlflow_env(settings),
            port,
            "LAKEOPS_MLFLOW_PORT",
        ),
    ]
    af_env = airflow_env(settings)
    af = [py, "-m", "airflow"]
    specs += [
        _Spec(
            "airflow-api-server",
            [
                *af,
                "api-server",
                "--host",
                host,
                "--port",
                str(settings.airflow_port),
                "--workers",
                "1",
            ],
            af_env,
            settings.airflow_port,
            "LAKEOPS_AIRFLOW_PORT",
        ),
        _Spec("airflow-dag-processor", [*af, "dag-processor"], af_env, None, None),
        # logs are read from the shared local folder: no log-serving port to collide on
        _Spec("airflow-scheduler", [*af, "scheduler", "--skip-serve-logs"], af_env, None, None),
        _Spec("airflow-triggerer", [*af, "triggerer", "--skip-serve-logs"], af_env, None, None),
    ]
    return {s.name: s for s in specs}


def _select(settings: Settings, services: Iterable[str] | None) -> list[str]:
    """Requested names in start order; any Airflow component brings the whole Airflow set."""
    if services is None:
        return list(SERVICE_NAMES)
    wanted = set(services)
    unknown = wanted - set(SERVICE_NAMES) - {"airflow"}
    if unknown:
        valid = ", ".join(("airflow", *SERVICE_NAMES))
        raise ValueError(f"unknown service(s) {sorted(unknown)}; valid: {valid}")
    if any(n.startswith("airflow") for n in wanted):
        wanted |= set(AIRFLOW_COMPONENTS)
    return [n for n in SERVICE_NAMES if n in wanted]


# --------------------------------------------------------------------------- state


def _state_path(settings: Settings) -> Path:
    return settings.run_dir / _STATE_FILE


def _load_state(settings: Settings) -> dict[str, _Record]:
    path = _state_path(settings)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return {}
    records: dict[str, _Record] = {}
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        return records
    for name, raw in data["services"].items():
        with contextlib.suppress(TypeError):
            records[name] = _Record(**raw)
    return records


def _save_state(settings: Settings, records: dict[str, _Record]) -> None:
    path = _state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    payload = {"version": 1, "services": {n: asdict(r) for n, r in records.items()}}
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)


def _locked(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """One ``up``/``down`` at a time per state folder."""
    return file_lock(settings.run_dir / "services.lock")


def _running(record: _Record) -> psutil.Process | None:
    """The live process of ``record``, or None (gone, zombie, or a recycled pid)."""
    child = _CHILDREN.get(record.pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(record.pid, None)
        return None
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) > 0.05:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:
        return None
    return proc


# --------------------------------------------------------------------------- ports


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        probe = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return sock.connect_ex((probe, port)) == 0


def _check_ports(settings: Settings, specs: Iterable[_Spec]) -> None:
    clashes = [
        f"port {s.port} for service {s.name} is already in use by another process; "
        f"stop it or set {s.port_var} to a free port"
        for s in specs
        if s.port is not None and _port_taken(settings.host, s.port)
    ]
    if clashes:
        raise PortInUseError("; ".join(clashes) + " (nothing was started)")


# --------------------------------------------------------------------------- start


def _start(settings: Settings, spec: _Spec) -> _Record:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.log_dir / f"{spec.name}.log"
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    with open(log_path, "ab") as fh:
        fh.write(f"\n=== lakeops up {started_at}: {' '.join(spec.cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(  # noqa: S603 - our own fixed command line
            spec.cmd,
            env=spec.env,
            cwd=settings.home,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[proc.pid] = proc
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.Error:
        create_time = 0.0
    log.info("started %s (pid %s), log %s", spec.name, proc.pid, log_path)
    return _Record(
        pid=proc.pid,
        pgid=proc.pid,
        create_time=create_time,
        port=spec.port,
        cmd=spec.cmd,
        log=str(log_path),
        started_at=started_at,
    )


def write_passwords_file(settings: Settings) -> None:
    """Pin the Simple auth manager's admin password to our generated secret."""
    write_private(settings.airflow_home / _PASSWORDS_FILE, json.dumps(
        {settings.airflow_admin_user: airflow_admin_password(settings)}) + "\n")


def _prepare_airflow(settings: Settings, deadline: float) -> None:
    """Passwords file, the dbt manifest, then ``airflow db migrate`` unless this Airflow
    version already did."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    write_passwords_file(settings)
    _parse_dbt_project(settings)
    marker = settings.airflow_home / _MIGRATED_MARKER
    airflow_version = dist_version("apache-airflow-core")
    db = settings.airflow_home / "airflow.db"
    if db.exists() and marker.exists() and marker.read_text().strip() == airflow_version:
        return
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.log_dir / "airflow-db-migrate.log"
    log.info("airflow db migrate (log %s)", log_path)
    with open(log_path, "ab") as fh:
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=airflow_env(settings),
            cwd=settings.home,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=max(deadline - time.monotonic(), 30.0),
            check=False,
        )
    if result.returncode != 0:
        raise ServiceStartError(
            f"airflow db migrate failed (exit {result.returncode}):\n{_tail(log_path)}"
        )
    marker.write_text(airflow_version + "\n")


def _parse_dbt_project(settings: Settings) -> None:
    """``dbt parse`` when the manifest is missing or older than the project, so the
    ``dbt_build`` DAG shows one task per model from its first parse (a DAG whose shape
    changed under a running run would drop that run's tasks)."""
    from lakeops.transform import dbt

    manifest = dbt.dag_manifest_path(settings)
    project = settings.dbt_project_dir
    newest = max((f.stat().st_mtime for f in project.rglob("*")
                  if f.is_file() and not f.is_relative_to(project / "target")), default=0.0)
    if manifest.exists() and manifest.stat().st_mtime >= newest:
        return
    try:
        dbt.parse(settings)
    except Exception as exc:  # noqa: BLE001 - the DAG falls back to parse -> build -> docs
        log.warning("dbt parse failed; dbt_build starts as one dbt build task: %s", exc)


def _tail(path: str | Path, lines: int = 30) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 16384, 0))
            text = fh.read().decode(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# --------------------------------------------------------------------------- health


def _get(url: str, timeout: float = 3.0) -> httpx.Response | str:
    try:
        return httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _airflow_health(base_url: str) -> dict[str, Any] | str:
    response = _get(f"{base_url}/api/v2/monitor/health")
    if isinstance(response, str):
        return response
    if response.status_code != 200:
        return f"HTTP {response.status_code} from /api/v2/monitor/health"
    try:
        return dict(response.json())
    except ValueError:
        return "health endpoint returned no JSON"


def _http_health(name: str, base_url: str) -> tuple[bool, str]:
    path = "/health" if name == "mlflow" else "/"
    response = _get(base_url + path)
    if isinstance(response, str):
        return False, response
    return response.status_code == 200, f"GET {path}: HTTP {response.status_code}"


def _flight_health(settings: Settings, port: int | None) -> tuple[bool, str]:
    """Healthy once the endpoint authenticates us and answers a query."""
    import pyarrow as pa

    from lakeops.query import QueryError, connect

    try:
        with connect(settings, host=_connect_host(settings), port=port) as client:
            client.table("SELECT 1 AS ok")
    except (QueryError, pa.ArrowException, OSError) as exc:
        return False, str(exc)[:200]
    return True, "Flight handshake and query answered"


def _airflow_component_health(name: str, health: dict[str, Any] | str) -> tuple[bool, str]:
    if isinstance(health, str):
        return False, f"api-server health unavailable: {health}"
    if name == "airflow-api-server":
        db = (health.get("metadatabase") or {}).get("status")
        return db == "healthy", f"metadatabase {db}"
    key = _HEALTH_KEYS[name]
    entry = health.get(key) or {}
    state = entry.get("status")
    beat = entry.get(f"latest_{key}_heartbeat")
    return state == "healthy", f"{key} {state}, last heartbeat {beat}"


def _probe(
    settings: Settings, names: list[str], records: dict[str, _Record]
) -> list[ServiceStatus]:
    procs = {n: _running(records[n]) if n in records else None for n in names}
    api_rec = records.get("airflow-api-server")
    health: dict[str, Any] | str = "api-server not running"
    if any(n in AIRFLOW_COMPONENTS for n in names) and api_rec and _running(api_rec):
        health = _airflow_health(_base_url(settings, api_rec.port))
    return [_status_of(settings, n, records.get(n), procs[n], health) for n in names]


def _base_url(settings: Settings, port: int | None) -> str:
    return f"http://{_connect_host(settings)}:{port}"


def _status_of(
    settings: Settings,
    name: str,
    record: _Record | None,
    proc: psutil.Process | None,
    health: dict[str, Any] | str,
) -> ServiceStatus:
    spec_port = {
        "docs": settings.docs_port,
        "sql": settings.flight_port,
        "mlflow": settings.mlflow_port,
        "airflow-api-server": settings.airflow_port,
    }.get(name)
    port = record.port if record is not None and proc is not None else spec_port
    url = settings.url(port) if port is not None else None
    if name == "sql" and port is not None:
        url = f"grpc+{'tls' if settings.flight_tls else 'tcp'}://{settings.host}:{port}"
    if proc is None:
        detail = "not running" if record is None else "exited (see log)"
        return ServiceStatus(name, None, port, url, False, detail)
    if name in AIRFLOW_COMPONENTS:
        healthy, detail = _airflow_component_health(name, health)
    elif name == "sql":
        healthy, detail = _flight_health(settings, port)
    else:
        healthy, detail = _http_health(name, _base_url(settings, port))
    if port is not None and port != spec_port:
        detail += f" (running on port {port}, settings say {spec_port}: down and up to apply)"
    return ServiceStatus(name, proc.pid, port, url, healthy, detail)


def _wait_healthy(settings: Settings, names: list[str], deadline: float) -> list[ServiceStatus]:
    while True:
        records = _load_state(settings)
        statuses = _probe(settings, names, records)
        dead = [s for s in statuses if s.pid is None]
        if dead:
            raise ServiceStartError(
                "\n\n".join(
                    f"{s.name} exited during start; last lines of its log:\n"
                    f"{_tail(records[s.name].log) if s.name in records else ''}"
                    for s in dead
                )
                + "\n(run `lakeops down` to stop the rest)"
            )
        if all(s.healthy for s in statuses):
            return statuses
        if time.monotonic() > deadline:
            waiting = "; ".join(f"{s.name}: {s.detail}" for s in statuses if not s.healthy)
            raise ServiceStartError(
                f"services not healthy in time: {waiting} (logs in {settings.log_dir}; "
                "run `lakeops down` to stop them)"
            )
        time.sleep(1.0)


# --------------------------------------------------------------------------- public API


def up(
    settings: Settings, services: list[str] | None = None, timeout: float = 180
) -> list[ServiceStatus]:
    """Start every requested service (default: all) not already running; wait until healthy.

    Idempotent: a service whose recorded process is still alive is left alone. Any port
    clash with a foreign process raises :class:`PortInUseError` before anything starts.
    """
    deadline = time.monotonic() + timeout
    names = _select(settings, services)
    settings.home.mkdir(parents=True, exist_ok=True)
    with _locked(settings):
        records = _load_state(settings)
        to_start = [n for n in names if n not in records or _running(records[n]) is None]
        specs = _specs(settings) if to_start else {}
        # leftovers of a crashed service (its task processes, say) go before a restart
        _stop([records[n] for n in to_start if n in records])
        _check_ports(settings, (specs[n] for n in to_start))
        if "mlflow" in to_start:
            settings.mlflow_home.mkdir(parents=True, exist_ok=True)
        for name in to_start:
            if name in AIRFLOW_COMPONENTS and name == _first_airflow(to_start):
                _prepare_airflow(settings, deadline)
            records[name] = _start(settings, specs[name])
            _save_state(settings, records)
    return _wait_healthy(settings, names, deadline)


def _first_airflow(names: list[str]) -> str | None:
    return next((n for n in names if n in AIRFLOW_COMPONENTS), None)


def status(settings: Settings) -> list[ServiceStatus]:
    """Name, pid, port, url, health and a one-line detail of every service."""
    return _probe(settings, list(SERVICE_NAMES), _load_state(settings))


def down(settings: Settings) -> list[str]:
    """Stop every process :func:`up` started (children first); return the stopped names."""
    if not _state_path(settings).exists():
        return []
    with _locked(settings):
        records = _load_state(settings)
        running = {r.pid for r in _stop(list(records.values()))}
        _save_state(settings, {})
    order = [*reversed(SERVICE_NAMES), *sorted(set(records) - set(SERVICE_NAMES))]
    stopped = [n for n in order if n in records and records[n].pid in running]
    for name in stopped:
        log.info("stopped %s (pid %s)", name, records[name].pid)
    return stopped


# --------------------------------------------------------------------------- stop


def _session_members(record: _Record) -> list[psutil.Process]:
    """Processes still in the session of ``record`` (its leader may be gone already).

    Linux does not reuse a pid while it still names a session, so a live leader with
    another create time means the session id was recycled: nothing of ours is left in it.
    """
    with contextlib.suppress(psutil.Error):
        if abs(psutil.Process(record.pgid).create_time() - record.create_time) > 0.05:
            return []
    members = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid() or os.getsid(proc.pid) != record.pgid:
                continue
            if proc.create_time() < record.create_time - 0.05:
                continue  # born before the service: cannot be one of its processes
            if proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def _terminate(procs: Iterable[psutil.Process], grace: float) -> None:
    procs = list(procs)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def _stop(records: list[_Record]) -> list[_Record]:
    """Stop the services of ``records`` together; return those that were running.

    Children first (an idle LocalExecutor worker ignores SIGTERM, hence the short grace
    before SIGKILL), then the service processes, then a SIGKILL to each process group
    and to anything else left in the sessions (task processes get their own group).
    """
    roots = {r.pid: proc for r in records if (proc := _running(r)) is not None}
    children: set[psutil.Process] = set()
    for record in records:
        children |= set(_session_members(record))
        if record.pid in roots:
            with contextlib.suppress(psutil.Error):
                children |= set(roots[record.pid].children(recursive=True))
    children -= set(roots.values())
    _terminate(children, _CHILD_GRACE_S)
    _terminate(roots.values(), _STOP_GRACE_S)
    for record in records:
        if record.pid in roots:
            with contextlib.suppress(OSError):
                os.killpg(record.pgid, signal.SIGKILL)
    leftovers = [p for record in records for p in _session_members(record)]
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(leftovers, timeout=5)
    for record in records:
        child = _CHILDREN.pop(record.pid, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
    return [r for r in records if r.pid in roots]


# --------------------------------------------------------------------------- Airflow API

_TOKENS: dict[tuple[str, str], tuple[str, float]] = {}
_TOKEN_TTL_S = 3600.0


def airflow_token(settings: Settings) -> str:
    """A JWT for the admin user: ``POST /auth/token`` with the generated password."""
    response = httpx.post(
        f"{_base_url(settings, settings.airflow_port)}/auth/token",
        json={
            "username": settings.airflow_admin_user,
            "password": airflow_admin_password(settings),
        },
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise ServiceError(
            f"Airflow login as {settings.airflow_admin_user!r} failed: "
            f"HTTP {response.status_code} {response.text[:200]}"
        )
    token = response.json()["access_token"]
    _TOKENS[(settings.airflow_url, settings.airflow_admin_user)] = (token, time.monotonic())
    return str(token)


def _cached_token(settings: Settings) -> str:
    cached = _TOKENS.get((settings.airflow_url, settings.airflow_admin_user))
    if cached and time.monotonic() - cached[1] < _TOKEN_TTL_S:
        return cached[0]
    return airflow_token(settings)


def airflow_api(
    settings: Settings,
    method: str,
    path: str,
    json: Any = None,
    *,
    params: dict[str, Any] | None = None,
    timeout: float = 30,
) -> Any:
    """Call the Airflow REST API as the admin user; return the decoded JSON (None if empty).

    ``path`` is either absolute (``/api/v2/dags/x/dagRuns``) or relative to ``/api/v2/``
    (``dags/x/dagRuns``). Raises :class:`httpx.HTTPStatusError` on an error status.
    """
    if not path.startswith("/"):
        path = "/api/v2/" + path
    url = _base_url(settings, settings.airflow_port) + path
    for attempt in range(2):
        headers = {"Authorization": f"Bearer {_cached_token(settings)}"}
        response = httpx.request(
            method, url, json=json, params=params, headers=headers, timeout=timeout
        )
        if response.status_code == 401 and attempt == 0:
            _TOKENS.pop((settings.airflow_url, settings.airflow_admin_user), None)
            continue
        break
    if response.is_error:
        raise httpx.HTTPStatusError(
            f"{method} {path}: HTTP {response.status_code} {response.text[:500]}",
            request=response.request,
            response=response,
        )
    return response.json() if response.content else None
