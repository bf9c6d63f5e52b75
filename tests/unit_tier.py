"""The unit tier's guard (wired in tests/unit/conftest.py): no process, no socket, under a
second of CPU a test.

Each phase of a unit test (its fixtures' set-up, the test, the tear-down) runs
:func:`sealed`: the ways out of the process closed, so opening a socket
(``connect``/``bind``) or starting a process (``subprocess``, ``os.fork``/``exec``/
``spawn``, ``multiprocessing``) fails the test, naming what it tried. A test that needs
one of them belongs to another tier: real files and engines in ``tests/data``, real
servers in ``tests/integration``.

The test itself (its call phase) may use at most :data:`CPU_BUDGET_S` of CPU time, read
with ``time.process_time`` (this process, every thread): a loaded machine stretches wall
time, not CPU time, so the budget holds on a busy CI runner as on a laptop. Time spent
importing modules is not counted (:func:`cpu_outside_imports`): a library is imported
once per process, by whichever test needs it first, so counting it would make the verdict
depend on the order tests run in (and on ``-k``).
"""


from __future__ import annotations

import builtins
import functools
import importlib
import multiprocessing.process
import os
import platform
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CPU_BUDGET_S = 1.0  # "each unit test < 1 s": CPU seconds of the test's call phase

# (owner, attribute, what a reader calls it) of every way out of the process
_SOCKET_CALLS = [(socket.socket, name, f"socket.{name}") for name in
                 ("connect", "connect_ex", "bind")]
_PROCESS_CALLS = [
    (subprocess.Popen, "_execute_child", "subprocess"),
    (multiprocessing.process.BaseProcess, "start", "multiprocessing"),
    *((os, name, f"os.{name}") for name in
      ("fork", "forkpty", "system", "posix_spawn", "posix_spawnp", "execv", "execve",
       "execvp", "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve",
       "spawnvp", "spawnvpe")
      if hasattr(os, name)),
]


class OutsideTheUnitTier(pytest.fail.Exception):  # type: ignore[misc,name-defined]
    """Raised where a unit test opens a socket or starts a process: pytest's own failure
    outcome, not an ``Exception``, so the code under test's ``except Exception`` does not
    swallow it (and each attempt is recorded too: a test that catches even this fails)."""


def _refuse(what: str, tried: list[str]) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        tried.append(what)
        raise OutsideTheUnitTier(
            f"a unit test may not use {what}: move the test to tests/data (real files "
            f"and engines) or tests/integration (real servers), or fake the boundary")
    return refused


@contextmanager
def sealed() -> Iterator[list[str]]:
    """Every way out of the process refused while inside; yields what was tried."""
    tried: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        for owner, name, what in [*_SOCKET_CALLS, *_PROCESS_CALLS]:
            patch.setattr(owner, name, _refuse(what, tried))
        yield tried


@functools.cache
def machine_probes() -> None:
    """What libraries ask the machine once per process, by running a program, and keep:
    asked before the first sealed test, so no test is charged with it (MLflow's
    telemetry reads ``platform.processor()``, which runs ``uname -p``; croniter, under
    Airflow, ``platform.architecture()``, which runs ``file``; scikit-learn's thread count
    reads joblib's physical core count, which runs ``lscpu``; urllib3, on import, binds a
    socket to ``::1`` to learn whether the machine has IPv6)."""
    import joblib
    import urllib3  # noqa: F401 - imported for its probe

    platform.processor()
    platform.architecture()
    joblib.cpu_count(only_physical_cores=True)


class _ImportClock:
    """CPU seconds spent in the outermost ``import`` statements and ``import_module`` calls
    made while it is installed (an import inside an import is counted once)."""

    def __init__(self) -> None:
        self.spent = 0.0
        self._depth = threading.local()

    def timed(self, load: Callable[..., Any]) -> Callable[..., Any]:
        def load_and_count(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._depth, "n", 0)
            if depth:
                return load(*args, **kwargs)
            self._depth.n, started = 1, time.process_time()
            try:
                return load(*args, **kwargs)
            finally:
                self.spent += time.process_time() - started
                self._depth.n = 0
        return load_and_count


@contextmanager
def cpu_outside_imports() -> Iterator[Callable[[], float]]:
    """Yields a clock: the process's CPU seconds since entering, imports left out."""
    imports = _ImportClock()
    started = time.process_time()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(builtins, "__import__", imports.timed(builtins.__import__))
        patch.setattr(importlib, "import_module", imports.timed(importlib.import_module))
        yield lambda: time.process_time() - started - imports.spent
