"""Run a feature job with Spark's own ``spark-submit`` (the master comes from settings:
``local[*]`` embedded, ``spark://host:7077`` in compose); its output goes to the log, so
an Airflow task shows Spark's log in the task log.

One ``spark-submit`` covers every interval a task run has pending (``--interval D1
--interval D2 ...``): one JVM start per run instead of one per interval; the job computes
them oldest first in one session and replaces each interval's partition on its own."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lakeops.core.settings import Settings, lakeops_env
from lakeops.storage.object_store import ObjectStore

log = logging.getLogger(__name__)


def _ordered(intervals: str | Sequence[str]) -> list[str]:
    """The intervals to compute, oldest first, each once."""
    days = sorted({intervals} if isinstance(intervals, str) else set(intervals))
    if not days:
        raise ValueError("no interval to run")
    return days


def submit_command(job: str, intervals: str | Sequence[str], settings: Settings) -> list[str]:
    script = settings.spark_jobs_dir / f"{job}.py"
    if not script.exists():
        raise FileNotFoundError(f"no Spark job {job!r} ({script})")
    return [str(Path(sys.executable).parent / "spark-submit"),
            "--master", settings.spark_master,
            "--driver-memory", settings.spark_driver_memory,
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.ui.showConsoleProgress=false",  # bars are noise in a task log
            "--conf", f"spark.pyspark.python={sys.executable}",
            *_s3a_conf(settings),
            str(script), *(arg for day in _ordered(intervals) for arg in ("--interval", day))]


def _s3a_conf(settings: Settings) -> list[str]:
    """An S3 lake (MinIO in compose) is read through s3a (the compose image adds
    hadoop-aws); the keys travel as AWS_* environment variables, never on the command
    line, where any process could read them."""
    if not settings.lake_is_s3:
        return []
    conf = ObjectStore.from_settings(settings).s3a_conf()
    return [arg for key, value in conf.items() for arg in ("--conf", f"spark.hadoop.{key}={value}")]


def _s3_env(settings: Settings) -> dict[str, str]:
    return ObjectStore.from_settings(settings).environment() if settings.lake_is_s3 else {}


def submit_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **lakeops_env(settings), **_s3_env(settings),
            "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


def _check_s3a(settings: Settings) -> None:
    """Spark reads an S3 lake through s3a, whose jar pyspark's wheel does not ship (and
    nothing here may download it): say so before Spark fails on the unknown scheme."""
    if not settings.lake_is_s3:
        return
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    if not any(jars.glob("hadoop-aws-*.jar")):
        raise RuntimeError(
            f"Spark reads the S3 lake {settings.lake} through s3a, which needs hadoop-aws in "
            f"{jars} (the compose image adds it when it is built; pyspark's wheel has none). "
            f"Use a local-folder lake here, or run the compose profile.")


def submit(job: str, intervals: str | Sequence[str], settings: Settings) -> None:
    """Run ``job`` for ``intervals`` (one day or several) in one ``spark-submit``."""
    _check_s3a(settings)
    days = _ordered(intervals)
    env = submit_env(settings)
    cmd = submit_command(job, days, settings)
    names = ", ".join(days)
    log.info("spark-submit %s for %d interval(s): %s (master %s)", job, len(days), names,
             settings.spark_master)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.info("%s", line.rstrip())
    code = proc.wait()
    if code != 0:
        raise RuntimeError(f"Spark job {job} for {names} failed (spark-submit exited "
                           f"{code}); its log is above")


def named_interval(context: dict[str, Any]) -> str | None:
    """The interval a manual run names in its params or conf (``{"interval":
    "YYYY-MM-DD"}``); None for a scheduled or asset-triggered run."""
    conf = (context.get("params") or {}).get("interval") or \
        ((getattr(context.get("dag_run"), "conf", None) or {}).get("interval"))
    return str(conf)[:10] if conf else None


def intervals_to_run(context: dict[str, Any]) -> list[str]:
    """The data intervals an asset-triggered run covers: the intervals of the DAG runs that
    published the triggering curated tables (several when a backfill published several
    days before this run started), oldest first. A manual run names its interval in the
    run's conf: ``{"interval": "YYYY-MM-DD"}``."""
    named = named_interval(context)
    if named:
        return [named]
    found = set()
    for events in (context.get("triggering_asset_events") or {}).values():
        for event in events:
            run = event.source_dag_run
            start = getattr(run, "data_interval_start", None) if run is not None else None
            if start is not None:
                found.add(start.date().isoformat())
    if not found:
        raise ValueError("no interval: this run was not triggered by a curated table's "
                         "publication; trigger it with conf {\"interval\": \"YYYY-MM-DD\"}")
    return sorted(found)
