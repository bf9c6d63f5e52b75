"""``lakeops up`` / ``down`` / ``status`` over supervisord.

Why supervisord rather than our own supervision: the earlier hand-written supervisor
started each service as a detached child and recorded its pid; nothing watched it
afterwards, so a crashed scheduler stayed down until someone ran ``lakeops up`` again.
supervisord is a maintained process manager that does exactly the watching: it restarts
a program that exits, signals whole process groups on stop (``stopasgroup`` /
``killasgroup``), rotates each program's log, and answers start/stop/state questions over
an XML-RPC socket. What is left here is the lakeops-specific part: generating its
configuration from the service entries (:mod:`lakeops.services.specs`), one-time
preparation (``airflow db migrate``), health, the restart count, back-off (``launch.py``)
and a final sweep for processes that escape a process group (Airflow task processes start
their own sessions).

Files, all under the state folder:

* ``run/supervisord.conf`` -- generated at ``up``; one ``[program:<name>]`` per entry
  (``autostart=false``: ``up`` starts what was asked for), the control socket
  ``run/supervisor.sock`` (mode 0700; a short path under the temp folder when the state
  folder's path is too long for a unix socket), ``run/supervisord.pid``;
* ``run/programs/<name>.json`` -- mode 0600: command, folder and environment (secrets
  included) of a program, read by ``launch.py`` at every (re)start;
* ``run/starts/<name>`` -- one line per start since ``up``: restarts = lines - 1;
* ``logs/<name>.log`` (stdout and stderr, rotated at 20 MB, 2 backups) and
  ``logs/supervisord.log`` (every spawn and exit, with its status).

supervisord daemonizes into its own session; every program is its own process group in
that session. ``down`` stops all programs (SIGTERM to each group, SIGKILL after
``stop_wait_s``), shuts supervisord down, then kills whatever of the tree it saw (and of
the session) is still alive: nothing is left behind, and nothing outside that tree is
touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from supervisor.xmlrpc import SupervisorTransport, UnixStreamHTTPConnection

from lakeops.core.keys import write_private
from lakeops.core.locking import file_lock
from lakeops.core.settings import Settings
from lakeops.services import launch, specs
from lakeops.services.errors import PortInUseError, ServiceStartError
from lakeops.services.health import Probe, tail
from lakeops.services.specs import Service

log = logging.getLogger(__name__)

START_SECS = 1  # == Backoff.base_s: every delayed restart reaches RUNNING before exec
START_RETRIES = 3  # supervisord's own retries of a first start that fails at once
_ACTIVE = {"STARTING", "RUNNING", "BACKOFF", "STOPPING"}
_FAILED = {"BACKOFF", "EXITED", "FATAL", "STOPPED", "UNKNOWN"}
_RPC_TIMEOUT_S = 15.0
_SOCKET_MAX = 90  # AF_UNIX paths stop at 107 bytes; supervisord appends ".<pid>" briefly
_LAUNCHER = Path(launch.__file__).absolute()


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    port: int | None
    url: str | None
    healthy: bool
    detail: str
    state: str = "STOPPED"  # supervisord's state name (STOPPED when it is not running)
    uptime_s: float | None = None
    restarts: int = 0  # starts since `lakeops up` started it, minus one


# --------------------------------------------------------------------------- paths


def _conf_path(settings: Settings) -> Path:
    return settings.run_dir / "supervisord.conf"


def _program_path(settings: Settings, name: str) -> Path:
    return settings.run_dir / "programs" / f"{name}.json"


def _starts_path(settings: Settings, name: str) -> Path:
    return settings.run_dir / "starts" / name


def _record_path(settings: Settings) -> Path:
    return settings.run_dir / "supervisord.json"


def socket_path(settings: Settings) -> Path:
    path = settings.run_dir / "supervisor.sock"
    if len(str(path)) <= _SOCKET_MAX:
        return path
    digest = hashlib.sha256(str(settings.home).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"lakeops-{os.getuid()}" / f"{digest}.sock"


def _locked(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """One ``up``/``down`` at a time per state folder."""
    return file_lock(settings.run_dir / "services.lock")


# --------------------------------------------------------------------------- config


def _conf_value(value: object) -> str:
    # supervisord expands %(name)s in values: a literal % is %%
    return str(value).replace("%", "%%")


def render_config(settings: Settings, entries: Iterable[Service]) -> str:
    """supervisord's configuration for ``entries`` (no secret in it: see ``launch.py``)."""
    sock, logs = socket_path(settings), settings.log_dir
    lines = [
        "; generated by `lakeops up` from lakeops.services.specs; edits are overwritten",
        "[unix_http_server]", f"file={_conf_value(sock)}", "chmod=0700", "",
        "[supervisord]",
        f"logfile={_conf_value(logs / 'supervisord.log')}",
        "logfile_maxbytes=5MB", "logfile_backups=2", "loglevel=info",
        f"pidfile={_conf_value(settings.run_dir / 'supervisord.pid')}",
        f"childlogdir={_conf_value(logs)}", f"directory={_conf_value(settings.home)}",
        "identifier=lakeops", "minfds=256", "minprocs=64", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{_conf_value(sock)}", "",
    ]
    for priority, entry in enumerate(entries, start=1):
        command = " ".join(shlex.quote(str(a)) for a in (
            sys.executable, "-I", "-S", _LAUNCHER, _program_path(settings, entry.name)))
        lines += [
            f"[program:{entry.name}]",
            f"command={_conf_value(command)}",
            f"directory={_conf_value(settings.home)}",
            f"priority={priority}", "autostart=false", "autorestart=true",
            f"startsecs={START_SECS}", f"startretries={START_RETRIES}",
            "stopsignal=TERM", f"stopwaitsecs={entry.stop_wait_s}",
            "stopasgroup=true", "killasgroup=true",
            f"stdout_logfile={_conf_value(logs / f'{entry.name}.log')}",
            "stdout_logfile_maxbytes=20MB", "stdout_logfile_backups=2",
            "redirect_stderr=true", "",
        ]
    return "\n".join(lines)


def _write_config(settings: Settings) -> bool:
    """Write the configuration; True when it changed."""
    text = render_config(settings, specs.entries(settings))
    path = _conf_path(settings)
    if path.exists() and path.read_text() == text:
        return False
    for folder in (settings.run_dir, settings.log_dir, socket_path(settings).parent):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.run_dir, 0o700)
    os.chmod(socket_path(settings).parent, 0o700)
    write_private(path, text)
    return True


def _write_program(settings: Settings, entry: Service) -> None:
    """The program file ``launch.py`` execs from (0600: the environment holds secrets),
    and an empty starts file: the restart count begins again."""
    program = {
        "name": entry.name,
        "argv": entry.command(settings),
        "cwd": str(settings.home),
        "env": entry.environment(settings),
        "port": entry.port(settings),
        "starts": str(_starts_path(settings, entry.name)),
        "backoff": {"base_s": max(entry.backoff.base_s, START_SECS),
                    "max_s": entry.backoff.max_s, "stable_s": entry.backoff.stable_s},
    }
    for folder in (_program_path(settings, "x").parent, _starts_path(settings, "x").parent):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    write_private(_program_path(settings, entry.name), json.dumps(program, indent=1))
    _starts_path(settings, entry.name).write_text("")


def _program_port(settings: Settings, entry: Service) -> int | None:
    """The port the running program was started with (the settings may have changed)."""
    try:
        port = json.loads(_program_path(settings, entry.name).read_text()).get("port")
    except (OSError, ValueError):
        return entry.port(settings)
    return None if port is None else int(port)


# --------------------------------------------------------------------------- XML-RPC


class _UnixConnection(UnixStreamHTTPConnection):
    def connect(self) -> None:
        super().connect()  # type: ignore[no-untyped-call]
        self.sock.settimeout(self.timeout)


def _rpc(settings: Settings, timeout: float = _RPC_TIMEOUT_S) -> Any:
    """A proxy to supervisord's XML-RPC interface over the unix socket."""
    url = f"unix://{socket_path(settings)}"
    transport = SupervisorTransport(None, None, url)

    def connection() -> _UnixConnection:
        conn = _UnixConnection("localhost", timeout=timeout)
        conn.socketfile = url[len("unix://"):]
        return conn

    transport._get_connection = connection
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor


def _alive_rpc(settings: Settings) -> Any | None:
    """The proxy when supervisord answers on this state folder's socket, else None."""
    if not socket_path(settings).exists():
        return None
    rpc = _rpc(settings)
    try:
        if rpc.getState()["statename"] == "RUNNING":
            return rpc
    except (OSError, xmlrpc.client.Error):
        pass
    return None


def _infos(rpc: Any | None) -> dict[str, dict[str, Any]]:
    if rpc is None:
        return {}
    try:
        return {i["name"]: i for i in rpc.getAllProcessInfo()}
    except (OSError, xmlrpc.client.Error) as exc:
        log.warning("supervisord did not answer: %s", exc)
        return {}


def _supervisord(settings: Settings) -> psutil.Process | None:
    """Our supervisord's process: the recorded pid, only while it has the recorded create
    time (a recycled pid is somebody else's)."""
    try:
        record = json.loads(_record_path(settings).read_text())
        proc = psutil.Process(int(record["pid"]))
        if abs(proc.create_time() - float(record["create_time"])) > 0.05:
            return None
        return None if proc.status() == psutil.STATUS_ZOMBIE else proc
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None


def _start_supervisord(settings: Settings) -> Any:
    _write_config(settings)
    log_path = settings.log_dir / "supervisord.log"
    result = subprocess.run(  # noqa: S603 - our own fixed command line
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(_conf_path(settings))],
        cwd=settings.home, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=60, check=False,
    )  # returns once supervisord has forked into the background
    deadline = time.monotonic() + 20
    while (rpc := _alive_rpc(settings)) is None:
        if result.returncode != 0 or time.monotonic() > deadline:
            raise ServiceStartError(
                f"supervisord did not start (exit {result.returncode}): "
                f"{result.stderr.strip()}\n{tail(log_path)}")
        time.sleep(0.1)
    proc = psutil.Process(rpc.getPID())
    _record_path(settings).write_text(
        json.dumps({"pid": proc.pid, "create_time": proc.create_time()}) + "\n")
    log.info("supervisord started (pid %s), log %s", proc.pid, log_path)
    return rpc


def _sync_config(settings: Settings, rpc: Any) -> None:
    """Apply a changed configuration (entries added or changed) to a running supervisord."""
    if not _write_config(settings):
        return
    added, changed, removed = rpc.reloadConfig()[0]
    for name in [*changed, *removed]:
        with contextlib.suppress(xmlrpc.client.Fault):
            rpc.stopProcessGroup(name, True)
        rpc.removeProcessGroup(name)
    for name in [*added, *changed]:
        rpc.addProcessGroup(name)


# --------------------------------------------------------------------------- up


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


def _check_ports(settings: Settings, entries: Iterable[Service]) -> None:
    clashes = [
        f"port {port} for service {e.name} is already in use by another process; "
        f"stop it or set {e.port_var} to a free port"
        for e in entries
        if (port := e.port(settings)) is not None and _port_taken(settings.host, port)
    ]
    if clashes:
        raise PortInUseError("; ".join(clashes) + " (nothing was started)")


def _reap_previous(settings: Settings, entries: Iterable[Service]) -> None:
    """Leftovers of a crashed incarnation (its task processes, a worker still holding its
    port) go before a new start."""
    sup = _supervisord(settings)
    if sup is None:
        return
    for entry in entries:
        starts = launch.read_starts(str(_starts_path(settings, entry.name)))
        if starts:
            launch.reap_group(starts[-1][2], sup.pid)


def up(
    settings: Settings, services: list[str] | None = None, timeout: float = 180,
    *, wait: bool = True,
) -> list[ServiceStatus]:
    """Start every requested service (default: all) not already running; wait until healthy.

    Idempotent: a program supervisord runs (or is restarting) is left alone. Any port
    clash with a foreign process raises :class:`PortInUseError` before anything starts.
    ``wait=False`` returns once the programs are started (their statuses as they are): a
    caller that needs a slow starter only later (the demo and Superset's first start)
    calls ``up`` for it again when it does, which then only waits.
    """
    deadline = time.monotonic() + timeout
    chosen = specs.select(services, settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    from lakeops.storage.lake import adopt_landing_inside_lake

    adopted = adopt_landing_inside_lake(settings)
    if adopted:
        log.warning("%s", adopted)
    with _locked(settings):
        rpc = _alive_rpc(settings)
        infos = _infos(rpc)
        to_start = [e for e in chosen if infos.get(e.name, {}).get("statename") not in _ACTIVE]
        _reap_previous(settings, to_start)
        _check_ports(settings, to_start)
        if to_start:
            _start(settings, rpc, to_start, deadline)
    if not wait:
        return _statuses(settings, chosen)
    return _wait_healthy(settings, chosen, {e.name for e in to_start}, deadline)


def _start(settings: Settings, rpc: Any | None, entries: list[Service], deadline: float
           ) -> None:
    if rpc is None:
        rpc = _start_supervisord(settings)
    else:
        _sync_config(settings, rpc)
    prepared: list[object] = []
    for entry in entries:
        if entry.prepare is not None and entry.prepare not in prepared:
            entry.prepare(settings, deadline)
            prepared.append(entry.prepare)
        _write_program(settings, entry)
        with contextlib.suppress(xmlrpc.client.Fault):  # ALREADY_STARTED: fine
            rpc.startProcess(entry.name, False)
        log.info("started %s, log %s", entry.name, settings.log_dir / f"{entry.name}.log")


def _wait_healthy(settings: Settings, chosen: list[Service], started: set[str],
                  deadline: float) -> list[ServiceStatus]:
    while True:
        statuses = _statuses(settings, chosen)
        failed = [s for s in statuses
                  if s.name in started and (s.restarts > 0 or s.state in _FAILED)]
        if failed:
            _fail(settings, failed)
        if all(s.healthy for s in statuses):
            return statuses
        if time.monotonic() > deadline:
            waiting = "; ".join(f"{s.name}: {s.detail}" for s in statuses if not s.healthy)
            raise ServiceStartError(
                f"services not healthy in time: {waiting} (logs in {settings.log_dir}; "
                "run `lakeops down` to stop them)"
            )
        time.sleep(1.0)


def _fail(settings: Settings, failed: list[ServiceStatus]) -> None:
    """Stop the programs that died while starting (no crash loop behind an error) and
    raise with the end of their logs."""
    rpc = _alive_rpc(settings)
    for s in failed:
        if rpc is not None:
            with contextlib.suppress(xmlrpc.client.Fault, OSError):
                rpc.stopProcess(s.name, True)
    time.sleep(0.2)  # supervisord writes the last output after the exit
    raise ServiceStartError(
        "\n\n".join(
            f"{s.name} exited during start ({s.detail}); last lines of its log:\n"
            f"{tail(settings.log_dir / f'{s.name}.log')}"
            for s in failed
        )
        + "\n(run `lakeops down` to stop the rest)"
    )


# --------------------------------------------------------------------------- status


def status(settings: Settings) -> list[ServiceStatus]:
    """Every service: pid, port, url, health, uptime, restarts and a one-line detail."""
    return _statuses(settings, list(specs.entries(settings)))


def _statuses(settings: Settings, chosen: list[Service]) -> list[ServiceStatus]:
    rpc = _alive_rpc(settings)
    infos = _infos(rpc)
    entries = specs.entries(settings)
    ports = {e.name: _program_port(settings, e) for e in entries
             if infos.get(e.name, {}).get("statename") == "RUNNING"}
    cache: dict[str, Any] = {}
    return [_status_of(settings, e, infos.get(e.name), Probe(settings, None, ports, cache),
                       supervised=rpc is not None) for e in chosen]


def _status_of(settings: Settings, entry: Service, info: dict[str, Any] | None,
               probe: Probe, *, supervised: bool) -> ServiceStatus:
    spec_port = entry.port(settings)
    starts = launch.read_starts(str(_starts_path(settings, entry.name))) if info else []
    restarts = max(len(starts) - 1, 0)
    state = info["statename"] if info else "STOPPED"
    port = probe.ports.get(entry.name, spec_port)
    url = entry.url_for(settings, port)
    if info is None or state != "RUNNING" or not info["pid"]:
        detail = _down_detail(info, supervised)
        pid = (info or {}).get("pid") or None
        return ServiceStatus(entry.name, pid, port, url, False, detail, state, None, restarts)
    uptime = float(info["now"] - info["start"])
    waiting = starts[-1][0] + starts[-1][1] - time.time() if starts else 0.0
    if waiting > 0:
        healthy, detail = False, f"back-off: restart #{restarts} in {waiting:.0f} s"
    else:
        probe.port, probe.started = port, float(info["start"])
        healthy, detail = entry.health(probe)
    if port is not None and port != spec_port:
        detail += f" (running on port {port}, settings say {spec_port}: down and up to apply)"
    return ServiceStatus(entry.name, int(info["pid"]), port, url, healthy, detail, state,
                         uptime, restarts)


def tree_mb(pid: int | None, field: str = "pss") -> float:
    """Memory of a process and all its descendants in MB. ``pss`` (proportional set size)
    splits each shared page among the processes that map it, so figures of different
    services add up; ``rss`` counts a shared library once per process."""
    if not pid:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info() if field == "pss" else proc.memory_info()
            total += getattr(info, field)
    return total / 2**20


def memory(settings: Settings, statuses: list[ServiceStatus] | None = None,
           ) -> dict[str, float]:
    """PSS in MB of each running service's process tree, and of supervisord itself."""
    statuses = status(settings) if statuses is None else statuses
    out = {s.name: tree_mb(s.pid) for s in statuses if s.pid}
    sup = _supervisord(settings)
    if sup is not None:
        with contextlib.suppress(psutil.Error):
            out["supervisord"] = sup.memory_full_info().pss / 2**20
    return out


def _down_detail(info: dict[str, Any] | None, supervised: bool) -> str:
    if info is None:
        return "not running" if not supervised else "not configured (run lakeops up)"
    state = info["statename"]
    why = info.get("spawnerr") or f"exit status {info.get('exitstatus')}"
    return {
        "STOPPED": "not running" if not info.get("start") else "stopped",
        "STARTING": "starting",
        "BACKOFF": f"exited while starting ({why}); supervisord retries",
        "EXITED": f"exited ({why})",
        "FATAL": f"gave up restarting ({why}); see its log",
        "STOPPING": "stopping",
    }.get(state, state.lower())


# --------------------------------------------------------------------------- down


def _session_members(sid: int, born: float) -> list[psutil.Process]:
    """Live processes of session ``sid`` born since ``born`` (its leader may be gone).

    Linux does not reuse a pid while it still names a session, so a live leader with
    another create time means the session id was recycled: nothing of ours is left in it.
    """
    with contextlib.suppress(psutil.Error):
        if abs(psutil.Process(sid).create_time() - born) > 0.05:
            return []
    members = []
    for proc in psutil.process_iter():
        try:
            if proc.pid == os.getpid() or os.getsid(proc.pid) != sid:
                continue
            if proc.create_time() >= born - 0.05 and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue
    return members


def _tree(sup: psutil.Process, born: float) -> set[psutil.Process]:
    """supervisord's descendants (task processes in sessions of their own included) and
    whatever is in its session."""
    procs: set[psutil.Process] = set(_session_members(sup.pid, born))
    with contextlib.suppress(psutil.Error):
        procs |= set(sup.children(recursive=True))
    return procs


def _terminate(procs: Iterable[psutil.Process], grace: float) -> None:
    procs = [p for p in procs if p.is_running()]  # is_running: same pid *and* create time
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


def _stop_programs(settings: Settings, rpc: Any) -> list[str]:
    """Stop every program at once; return the names of those that were running."""
    infos = _infos(rpc)
    order = [*(e.name for e in specs.entries(settings)), *sorted(infos)]
    names = list(dict.fromkeys(order))
    running = [n for n in reversed(names) if infos.get(n, {}).get("statename") in _ACTIVE]
    wait = max((e.stop_wait_s for e in specs.entries(settings)), default=15) + 30
    try:
        _rpc(settings, timeout=wait).stopAllProcesses(True)
    except (OSError, xmlrpc.client.Error) as exc:
        log.warning("supervisord did not stop every program: %s", exc)
    return running


def down(settings: Settings) -> list[str]:
    """Stop every program, then supervisord, then any process of theirs still alive;
    return the names of the services that were running (last started first)."""
    if not settings.run_dir.exists():
        return []
    with _locked(settings):
        sup, rpc = _supervisord(settings), _alive_rpc(settings)
        if sup is None and rpc is not None:  # record lost: ask supervisord itself
            with contextlib.suppress(OSError, xmlrpc.client.Error, psutil.Error):
                sup = psutil.Process(rpc.getPID())
        stopped: list[str] = []
        if sup is not None:
            born = sup.create_time()
            tree = _tree(sup, born)
            if rpc is not None:
                stopped = _stop_programs(settings, rpc)
                tree |= _tree(sup, born)
                with contextlib.suppress(OSError, xmlrpc.client.Error):
                    rpc.shutdown()
            _terminate([sup], 15)
            _terminate(tree, 3)
            _terminate(_session_members(sup.pid, born), 1)
        _forget(settings)
        stopped += _stop_legacy(settings)
    for name in stopped:
        log.info("stopped %s", name)
    return stopped


def _stop_legacy(settings: Settings) -> list[str]:
    """Services a ``lakeops up`` from before supervisord started (``run/services.json``:
    pid, session and create time of each), so an upgrade leaves nothing running."""
    path = settings.run_dir / "services.json"
    try:
        records = dict(json.loads(path.read_text())["services"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    stopped = []
    for name, record in records.items():
        try:
            proc = psutil.Process(int(record["pid"]))
            born = float(record["create_time"])
            if abs(proc.create_time() - born) > 0.05:
                continue  # a recycled pid: somebody else's
            tree = {*_session_members(int(record["pgid"]), born),
                    *proc.children(recursive=True)} - {proc}
        except (psutil.Error, KeyError, TypeError, ValueError):
            continue
        _terminate(tree, 5)
        _terminate([proc, *_session_members(int(record["pgid"]), born)], 15)
        stopped.append(name)
    path.unlink(missing_ok=True)
    return stopped


def _forget(settings: Settings) -> None:
    """Remove the run files of a stopped stack (program files hold secrets)."""
    for path in (_record_path(settings), socket_path(settings),
                 settings.run_dir / "supervisord.pid"):
        path.unlink(missing_ok=True)
    for path in _program_path(settings, "x").parent.glob("*.json"):
        path.unlink(missing_ok=True)
