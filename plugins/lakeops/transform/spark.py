"""Run a feature job with Spark's own ``spark-submit`` (the master comes from settings:
``local[*]`` embedded, ``spark://host:7077`` in compose); its output goes to the log, so
an Airflow task shows Spark's log in the task log."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lakeops.settings import Settings

log = logging.getLogger(__name__)


def submit_command(job: str, interval: str, settings: Settings) -> list[str]:
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
            str(script), "--interval", interval]


def _s3a_conf(settings: Settings) -> list[str]:
    """An S3 lake (MinIO in compose) is read through s3a (the compose image adds
    hadoop-aws); the keys travel as AWS_* environment variables, never on the command
    line, where any process could read them."""
    if not settings.lake_is_s3:
        return []
    conf = {"fs.s3a.path.style.access": "true", "fs.s3a.endpoint.region": settings.s3_region}
    if settings.s3_endpoint:
        endpoint = urlsplit(settings.s3_endpoint)
        conf["fs.s3a.endpoint"] = settings.s3_endpoint
        conf["fs.s3a.connection.ssl.enabled"] = str(endpoint.scheme == "https").lower()
    return [arg for key, value in conf.items() for arg in ("--conf", f"spark.hadoop.{key}={value}")]


def _s3_env(settings: Settings) -> dict[str, str]:
    env = {}
    if settings.lake_is_s3 and settings.s3_access_key and settings.s3_secret_key:
        env["AWS_ACCESS_KEY_ID"] = settings.s3_access_key.get_secret_value()
        env["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_key.get_secret_value()
        env["AWS_REGION"] = settings.s3_region
    return env


def submit_env(settings: Settings) -> dict[str, str]:
    from lakeops.services import lakeops_env

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


def submit(job: str, interval: str, settings: Settings) -> None:
    _check_s3a(settings)
    env = submit_env(settings)
    cmd = submit_command(job, interval, settings)
    log.info("spark-submit %s --interval %s (master %s)", job, interval, settings.spark_master)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        log.info("%s", line.rstrip())
    code = proc.wait()
    if code != 0:
        raise RuntimeError(f"Spark job {job} for {interval} failed (spark-submit exited "
                           f"{code}); its log is above")


def intervals_to_run(context: dict[str, Any]) -> list[str]:
    """The data intervals an asset-triggered run covers: the intervals of the DAG runs that
    published the triggering curated tables (several when a backfill published several
    days before this run started), oldest first. A manual run names its interval in the
    run's conf: ``{"interval": "YYYY-MM-DD"}``."""
    conf = (context.get("params") or {}).get("interval") or \
        ((getattr(context.get("dag_run"), "conf", None) or {}).get("interval"))
    if conf:
        return [str(conf)[:10]]
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
