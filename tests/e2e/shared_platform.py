"""What the end-to-end modules share about the demo's platform (the fixture that runs it
is in conftest.py, which pytest imports under a name of its own: state the tests read lives
here, in one module)."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import date, timedelta

from lakeops import services
from lakeops.core.settings import Settings
from lakeops.demo import run as demo

START, DAYS = date(2024, 10, 1), 2
INTERVALS = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
# every day the features cover: the historical load's days, then the daily ones
FEATURE_DAYS = [(START + timedelta(days=i)).isoformat()
                for i in range(-demo.HISTORY_DAYS, DAYS)]

KILLED: dict[str, int] = {}


def kill_the_scheduler_once_ingest_runs(settings: Settings, lines: list[str],
                                         stop: threading.Event) -> None:
    while not stop.is_set():
        if any(line.startswith("ingest_") and "running=" in line for line in lines):
            (scheduler,) = [s for s in services.status(settings)
                            if s.name == "airflow-scheduler"]
            if scheduler.pid:
                os.kill(scheduler.pid, signal.SIGKILL)
                KILLED["pid"] = scheduler.pid
                return
        time.sleep(0.5)
