"""``lakeops up`` / ``down`` / ``status``: the services of :mod:`lakeops.services.specs`
run under supervisord (:mod:`lakeops.services.supervisord`, where its files are listed and
why it is the process manager).

``up`` starts what was asked for and is not running yet, after one-time preparation
(``airflow db migrate``) and a check that no foreign process holds a port, then waits
until every service answers its health check; a service that dies while starting is
stopped again (no crash loop behind an error) and reported with the end of its log.
``status`` reports each service's state, health, uptime and restart count (back-off
itself is ``launch.py``'s).

supervisord daemonizes into its own session; every program is its own process group in
that session. ``down`` stops all programs (SIGTERM to each group, SIGKILL after
``stop_wait_s``), shuts supervisord down, then kills whatever of the tree it saw (and of
the session) is still alive (:mod:`lakeops.services.processes`; Airflow task processes
start sessions of their own): nothing is left behind, and nothing outside that tree is
touched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import xmlrpc.client
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psutil

from lakeops.core.locking import file_lock
from lakeops.core.settings import Settings
from lakeops.services import launch, processes, specs, supervisord
from lakeops.services.errors import PortInUseError, ServiceStartError
from lakeops.services.health import Probe, tail
from lakeops.services.ports import port_taken
from lakeops.services.specs import Service

log = logging.getLogger(__name__)

_ACTIVE = {"STARTING", "RUNNING", "BACKOFF", "STOPPING"}
_FAILED = {"BACKOFF", "EXITED", "FATAL", "STOPPED", "UNKNOWN"}


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


def _locked(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """One ``up``/``down`` at a time per state folder."""
    return file_lock(settings.run_dir / "services.lock")


# --------------------------------------------------------------------------- up


def _check_ports(settings: Settings, entries: Iterable[Service]) -> None:
    clashes = [
        f"port {port} for service {e.name} is already in use by another process; "
        f"stop it or set {e.port_var} to a free port"
        for e in entries
        if (port := e.port(settings)) is not None and port_taken(settings.host, port)
    ]
    if clashes:
        raise PortInUseError("; ".join(clashes) + " (nothing was started)")


def _reap_previous(settings: Settings, entries: Iterable[Service]) -> None:
    """Leftovers of a crashed incarnation (its task processes, a worker still holding its
    port) go before a new start."""
    sup = supervisord.process(settings)
    if sup is None:
        return
    for entry in entries:
        starts = launch.read_starts(str(supervisord.starts_path(settings, entry.name)))
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
        rpc = supervisord.alive_proxy(settings)
        infos = supervisord.program_infos(rpc)
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
        rpc = supervisord.start(settings)
    else:
        supervisord.sync_config(settings, rpc)
    prepared: list[object] = []
    for entry in entries:
        if entry.prepare is not None and entry.prepare not in prepared:
            entry.prepare(settings, deadline)
            prepared.append(entry.prepare)
        supervisord.write_program(settings, entry)
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
    rpc = supervisord.alive_proxy(settings)
    for s in failed:
        if rpc is not None:
            with contextlib.suppress(xmlrpc.client.Fault, OSError):
                rpc.stopProcess(s.name, True)
    time.sleep(0.2)  # supervisord writes the last output after the exit
    raise ServiceStartError(
        "\n\n".join(
            f"{s.name} exited during start ({s.detail}); see the end of "
            f"{settings.log_dir / f'{s.name}.log'}:\n"
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
    rpc = supervisord.alive_proxy(settings)
    infos = supervisord.program_infos(rpc)
    entries = specs.entries(settings)
    ports = {e.name: supervisord.program_port(settings, e) for e in entries
             if infos.get(e.name, {}).get("statename") == "RUNNING"}
    cache: dict[str, Any] = {}
    return [_status_of(settings, e, infos.get(e.name), Probe(settings, None, ports, cache),
                       supervised=rpc is not None) for e in chosen]


def _status_of(settings: Settings, entry: Service, info: dict[str, Any] | None,
               probe: Probe, *, supervised: bool) -> ServiceStatus:
    spec_port = entry.port(settings)
    starts = launch.read_starts(str(supervisord.starts_path(settings, entry.name))) if info else []
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


def memory(settings: Settings, statuses: list[ServiceStatus] | None = None,
           ) -> dict[str, float]:
    """PSS in MB of each running service's process tree, and of supervisord itself."""
    statuses = status(settings) if statuses is None else statuses
    out = {s.name: processes.tree_mb(s.pid) for s in statuses if s.pid}
    sup = supervisord.process(settings)
    if sup is not None:
        with contextlib.suppress(psutil.Error):
            out["supervisord"] = sup.memory_full_info().pss / 2**20
    return out


# --------------------------------------------------------------------------- down


def _stop_programs(settings: Settings, rpc: Any) -> list[str]:
    """Stop every program at once; return the names of those that were running."""
    infos = supervisord.program_infos(rpc)
    order = [*(e.name for e in specs.entries(settings)), *sorted(infos)]
    names = list(dict.fromkeys(order))
    running = [n for n in reversed(names) if infos.get(n, {}).get("statename") in _ACTIVE]
    wait = max((e.stop_wait_s for e in specs.entries(settings)), default=15) + 30
    try:
        supervisord.proxy(settings, timeout=wait).stopAllProcesses(True)
    except (OSError, xmlrpc.client.Error) as exc:
        log.warning("supervisord did not stop every program: %s", exc)
    return running


def down(settings: Settings) -> list[str]:
    """Stop every program, then supervisord, then any process of theirs still alive;
    return the names of the services that were running (last started first)."""
    if not settings.run_dir.exists():
        return []
    with _locked(settings):
        sup, rpc = supervisord.process(settings), supervisord.alive_proxy(settings)
        if sup is None and rpc is not None:  # record lost: ask supervisord itself
            with contextlib.suppress(OSError, xmlrpc.client.Error, psutil.Error):
                sup = psutil.Process(rpc.getPID())
        stopped: list[str] = []
        if sup is not None:
            born = sup.create_time()
            tree = processes.descendants_and_session(sup, born)
            if rpc is not None:
                stopped = _stop_programs(settings, rpc)
                tree |= processes.descendants_and_session(sup, born)
                with contextlib.suppress(OSError, xmlrpc.client.Error):
                    rpc.shutdown()
            processes.terminate([sup], 15)
            processes.terminate(tree, 3)
            processes.terminate(processes.session_members(sup.pid, born), 1)
        supervisord.remove_run_files(settings)
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
            tree = {*processes.session_members(int(record["pgid"]), born),
                    *proc.children(recursive=True)} - {proc}
        except (psutil.Error, KeyError, TypeError, ValueError):
            continue
        processes.terminate(tree, 5)
        processes.terminate([proc, *processes.session_members(int(record["pgid"]), born)], 15)
        stopped.append(name)
    path.unlink(missing_ok=True)
    return stopped
