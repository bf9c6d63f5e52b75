"""Exec wrapper of every supervised program: ``python -I -S launch.py <program.json>``.

supervisord starts this file, not the service: it reads the program file ``lakeops up``
wrote (mode 0600: command, working folder and the full environment, secrets included, so
nothing secret sits in ``supervisord.conf`` or on a command line), then replaces itself
with the service (``execvpe``: same pid, the one supervisord watches). On the way it

* appends ``<start time> <delay> <pid>`` to the program's starts file (``up`` empties it):
  ``lakeops status`` counts restarts from it;
* writes one line about the (re)start to the service's log;
* removes what a previous incarnation left in its process group (a SIGKILLed Airflow
  scheduler's executor workers, a uvicorn worker still holding the port: SIGTERM, then
  SIGKILL after 3 s);
* backs off: supervisord restarts a program that exited after ``startsecs`` at once, so a
  crash-looping service would spin. After ``k`` consecutive short runs (each under
  ``stable_s``) the next start first sleeps ``min(base_s * 2**(k-1), max_s)``; with a
  delay of at least ``startsecs`` supervisord sees every restart as RUNNING, so its own
  STARTING retries (and FATAL) only ever concern a first start that fails at once.

Standard library only, and nothing from ``lakeops``: it runs with ``-I -S`` (~40 ms here).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, datetime


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, session) of ``pid`` from /proc, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()  # state ppid pgrp session ...
    return fields[0], int(fields[2]), int(fields[3])


def group_members(pgid: int, sid: int) -> list[int]:
    """Live pids of process group ``pgid`` in session ``sid``, if the group is orphaned.

    A live process with pid ``pgid`` means the group has a leader: then the id was
    recycled for a new program (Linux hands out a pid again only once no group uses it),
    and nothing in it is a leftover.
    """
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        stat = _stat(int(entry))
        if stat is not None and stat[1:] == (pgid, sid):
            if int(entry) == pgid:
                return []
            members.append(int(entry))
    return members


def reap_group(pgid: int, sid: int, grace: float = 3.0) -> list[int]:
    """SIGTERM, then after ``grace`` SIGKILL, the leftovers of process group ``pgid``."""
    pids = group_members(pgid, sid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            time.sleep(0.1)
            pids = [p for p in pids if (stat := _stat(p)) is not None and stat[0] != "Z"]
        if not pids:
            break
    return pids


def read_starts(path: str) -> list[tuple[float, float, int]]:
    """(start time, back-off delay, pid) of every start since ``up``."""
    starts = []
    try:
        with open(path) as fh:
            for line in fh:
                parts = line.split()
                if len(parts) == 3:
                    starts.append((float(parts[0]), float(parts[1]), int(parts[2])))
    except OSError:
        pass
    return starts


def backoff_delay(starts: list[tuple[float, float, int]], now: float,
                  base_s: float, max_s: float, stable_s: float) -> float:
    """Delay before the next start: doubles with each consecutive run shorter than
    ``stable_s`` (a run lasts from its start plus delay to the next start)."""
    ends = [s[0] for s in starts[1:]] + [now]
    short = 0
    for (start, delay, _pid), end in reversed(list(zip(starts, ends, strict=True))):
        if end - (start + delay) >= stable_s:
            break
        short += 1
    return 0.0 if short == 0 else min(base_s * 2 ** (short - 1), max_s)


def main(argv: list[str]) -> None:
    with open(argv[1]) as fh:
        program = json.load(fh)
    backoff = program["backoff"]
    starts = read_starts(program["starts"])
    now = time.time()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    name, cmd = program["name"], program["argv"]
    delay = 0.0
    if starts:
        delay = backoff_delay(starts, now, backoff["base_s"], backoff["max_s"],
                              backoff["stable_s"])
    with open(program["starts"], "a") as fh:  # first: `lakeops status` counts it at once
        fh.write(f"{now:.3f} {delay:.3f} {os.getpid()}\n")
    if starts:
        previous = starts[-1][2]
        ran = now - starts[-1][0] - starts[-1][1]
        print(f"\n=== lakeops {stamp}: restart #{len(starts)} of {name} (pid {os.getpid()}):"
              f" the previous run (pid {previous}) ended after {ran:.1f} s; "
              f"back-off {delay:g} s", flush=True)
        left = reap_group(previous, os.getsid(0))
        if left:
            print(f"=== lakeops: {len(left)} leftovers of pid {previous} would not die: {left}",
                  flush=True)
    else:
        print(f"\n=== lakeops {stamp}: start of {name} (pid {os.getpid()}): {' '.join(cmd)}",
              flush=True)
    if delay:
        time.sleep(delay)
    os.chdir(program["cwd"])
    os.execvpe(cmd[0], cmd, program["env"])


if __name__ == "__main__":
    main(sys.argv)
