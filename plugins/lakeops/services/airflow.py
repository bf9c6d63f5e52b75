"""The environment of the supervised processes, and Airflow's one-time preparation.

Task processes see the same state folder: :func:`airflow_env` passes every ``LAKEOPS_*``
setting through (``LAKEOPS_HOME`` absolute). Secrets (Fernet key, JWT and API secrets, the
admin password) are generated once into ``<home>/secrets`` by :mod:`lakeops.core.keys`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from importlib.metadata import version as dist_version
from pathlib import Path

from lakeops.core.keys import get_secret, write_private
from lakeops.core.settings import Profile, Settings, lakeops_env
from lakeops.services.errors import ServiceStartError
from lakeops.services.health import connect_host, tail

log = logging.getLogger(__name__)

_MIGRATED_MARKER = ".lakeops-db-migrated"
_PASSWORDS_FILE = "simple_auth_manager_passwords.json"


def base_env(settings: Settings) -> dict[str, str]:
    """``os.environ`` with the settings' ``LAKEOPS_*`` (they win) and this venv on PATH."""
    # the settings decide every LAKEOPS_<FIELD>; LAKEOPS_SECRET_* injections pass through
    fields = {f"LAKEOPS_{name.upper()}" for name in type(settings).model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in fields}
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    env.update(lakeops_env(settings))
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYTHONUNBUFFERED"] = "1"
    # no usage reports from a library (Cosmos, dbt, GX): this machine talks to nobody
    env.update(DO_NOT_TRACK="1", SCARF_NO_ANALYTICS="true", GX_ANALYTICS_ENABLED="false",
               AIRFLOW__COSMOS__ENABLE_TELEMETRY="False")
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
    api = f"http://{connect_host(settings)}:{settings.airflow_port}"
    env = base_env(settings)
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
            # one machine: a task whose supervisor stopped heartbeating (its scheduler was
            # killed and restarted) is failed and retried after a minute, not five
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
            "MLFLOW_TRACKING_URI": settings.mlflow_url,
        }
    )
    if settings.profile is Profile.CLUSTER:
        env.update(_celery_env(settings))
    return env


def _celery_env(settings: Settings) -> dict[str, str]:
    """The cluster profile: the CeleryExecutor on Redis, the metadata DB on Postgres; as
    many task slots as the Celery workers have."""
    from lakeops.services import cluster

    slots = str(settings.cluster_celery_workers * settings.airflow_worker_concurrency)
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": slots,
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": slots,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": cluster.postgres_url(settings, "airflow"),
        "AIRFLOW__CELERY__BROKER_URL": cluster.redis_url(settings),
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + cluster.postgres_url(
            settings, "airflow", driver="postgresql"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(settings.airflow_worker_concurrency),
        # a task whose worker died is requeued: its slot is not held until a timeout
        "AIRFLOW__CELERY__TASK_ACKS_LATE": "True",
    }


def airflow_admin_password(settings: Settings) -> str:
    """Password of ``settings.airflow_admin_user`` (generated into ``<home>/secrets``)."""
    return get_secret(settings, "airflow-admin-password")


def mlflow_env(settings: Settings) -> dict[str, str]:
    env = base_env(settings)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    if settings.lake_is_s3:  # artifacts in the lake bucket
        from lakeops.storage.object_store import ObjectStore

        env.update(ObjectStore.from_settings(settings).environment())
    return env


def write_passwords_file(settings: Settings) -> None:
    """Pin the Simple auth manager's admin password to our generated secret."""
    write_private(settings.airflow_home / _PASSWORDS_FILE, json.dumps(
        {settings.airflow_admin_user: airflow_admin_password(settings)}) + "\n")


def prepare_airflow(settings: Settings, deadline: float) -> None:
    """Before the first Airflow component starts: the passwords file, the dbt manifest,
    then ``airflow db migrate`` unless this Airflow version already did."""
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    write_passwords_file(settings)
    prepare_dbt(settings)
    marker = settings.airflow_home / _MIGRATED_MARKER
    airflow_version = f"{dist_version('apache-airflow-core')} {settings.profile.value}"
    if settings.profile is Profile.CLUSTER:  # its metadata DB is on Postgres
        from lakeops.services import cluster

        cluster.ensure_databases(settings, deadline)
        db_there = True
    else:
        db_there = (settings.airflow_home / "airflow.db").exists()
    if db_there and marker.exists() and marker.read_text().strip() == airflow_version:
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
            f"airflow db migrate failed (exit {result.returncode}); see the end of "
            f"{log_path}:\n{tail(log_path)}"
        )
    marker.write_text(airflow_version + "\n")


def prepare_mlflow(settings: Settings, deadline: float) -> None:
    settings.mlflow_home.mkdir(parents=True, exist_ok=True)
    if settings.profile is Profile.CLUSTER:  # its backend store is on Postgres
        from lakeops.services import cluster

        cluster.ensure_databases(settings, deadline)


def prepare_dbt(settings: Settings) -> None:
    """``dbt parse`` when the manifest is missing or older than the project, so the
    ``dbt_build`` DAG shows one task per model from its first parse. Best effort: a
    failure is logged and the DAG falls back to its coarse shape."""
    try:
        from lakeops.transform import dbt

        manifest = dbt.dag_manifest_path(settings)
        project = settings.dbt_project_dir
        newest = max((f.stat().st_mtime for f in project.rglob("*")
                      if f.is_file() and not f.is_relative_to(project / "target")),
                     default=0.0)
        if manifest.exists() and manifest.stat().st_mtime >= newest:
            return
        dbt.parse(settings)
    except Exception as exc:  # noqa: BLE001 - the DAG falls back to parse -> build -> docs
        log.warning("dbt parse failed; dbt_build starts as one dbt build task: %s", exc)
