"""Airflow's task-running processes with the task-time libraries imported before they fork.

A task of ours imports its libraries when it starts: Great Expectations alone takes 3-7 s
to import on this machine's 2 cores (6-9 s beside a busy Spark job), so each
``validate_<table>`` task paid it again. Both executors fork the task from a process that
started long before it: with the LocalExecutor, a worker forked from the scheduler; with
the CeleryExecutor, a pool process forked from the Celery worker (Airflow's
``execute_workload`` then forks the task). Importing the libraries once in that parent,
before Airflow's CLI starts it, lets every forked task find them in memory (copy-on-write
pages, shared), the way ``gunicorn --preload`` warms its workers.

Started as ``python -m lakeops.airflow.warm <airflow subcommand ...>``: the embedded
scheduler (``scheduler``) and the cluster profile's and compose's Celery workers
(``celery worker``); DAG parsing stays light: the dag-processor imports nothing of this.
Nothing here opens a connection or starts a thread, so forking after it is safe. A library
missing here only costs the time it saved.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time

# what the ingest, validate and publish tasks import when they run
PRELOAD = ("duckdb", "pyarrow", "pyarrow.parquet", "pyarrow.compute", "great_expectations",
           "lakeops.ingest.stage", "lakeops.validate.audit", "lakeops.validate.publish")

log = logging.getLogger(__name__)


def preload(modules: tuple[str, ...] = PRELOAD) -> dict[str, float]:
    """Import ``modules``; return seconds per module (a failed import is logged, skipped)."""
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    took = {}
    for name in modules:
        start = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the scheduler must start regardless
            log.warning("preload of %s failed: %s", name, exc)
            continue
        took[name] = time.perf_counter() - start
    return took


def main() -> None:
    took = preload()
    print("lakeops: preloaded for forked tasks: "
          + ", ".join(f"{k} {v:.1f}s" for k, v in took.items()), flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
