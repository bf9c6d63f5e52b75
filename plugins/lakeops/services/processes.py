"""Process trees of the services: their memory, and ending them for good.

A service is more than the process supervisord started: Airflow's scheduler forks
executor workers, and its task processes start sessions of their own, outside the
process group supervisord signals. ``lakeops status`` reports each service's memory over
its whole tree (:func:`tree_mb`); ``lakeops down`` ends whatever of supervisord's tree
and session is still alive once supervisord has stopped (:func:`descendants_and_session`,
:func:`session_members`, :func:`terminate`). A process is only ever touched while it has
the create time we saw: a recycled pid is somebody else's.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

import psutil


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


def session_members(sid: int, born: float) -> list[psutil.Process]:
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


def descendants_and_session(sup: psutil.Process, born: float) -> set[psutil.Process]:
    """The descendants of ``sup`` (supervisord; task processes in sessions of their own
    included) and whatever is in its session."""
    procs: set[psutil.Process] = set(session_members(sup.pid, born))
    with contextlib.suppress(psutil.Error):
        procs |= set(sup.children(recursive=True))
    return procs


def terminate(procs: Iterable[psutil.Process], grace: float) -> None:
    """SIGTERM to each process still running, SIGKILL to those alive ``grace`` s later."""
    procs = [p for p in procs if p.is_running()]  # is_running: same pid *and* create time
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
