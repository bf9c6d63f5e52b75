"""The production topology as local processes: ``LAKEOPS_PROFILE=cluster lakeops up``.

What ``docker-compose.yml`` runs in containers, started here from packages a fresh
machine installs through the project's own set-up (``make cluster-packages``, run by
``make test``: Debian's ``postgresql`` and ``redis-server``; ``make setup``: Airflow's
Celery provider and the Postgres drivers from ``requirements/compose.lock``):

* Postgres (Debian's binaries, a cluster of its own in ``<home>/postgres``, loopback only,
  password auth with a generated superuser password): the metadata DB of Airflow and of
  MLflow, one database and role each;
* Redis (``redis-server``, no persistence): Celery's broker;
* Airflow with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer and
  ``cluster_celery_workers`` Celery workers (``airflow celery worker`` started through
  :mod:`lakeops.airflow.warm`, each its own hostname; logs are read from the shared local
  folder, so no worker serves logs);
* a Spark standalone master (``spark://<host>:<spark_master_port>``, its UI on
  ``spark_ui_port``) and ``cluster_spark_workers`` workers, from pyspark's own
  ``bin/spark-class``; the feature DAGs submit to it (``settings.spark_master``);
* MLflow with its backend store on Postgres.

The lake stays a local folder (or S3 on moto for the parts that can read it): pyspark's
wheel has no hadoop-aws, and none can be fetched here.

Hand-written here: the command lines and first-start steps of each program (initdb, the
databases); supervisord (:mod:`lakeops.services.supervisor`) runs them as it runs the
embedded default's.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lakeops.core.keys import get_secret, write_private
from lakeops.core.settings import Settings
from lakeops.services.errors import ServiceStartError
from lakeops.services.health import Probe, connect_host

PG_DATABASES = ("airflow", "mlflow")  # one role of the same name owns each


# --------------------------------------------------------------------------- packages


def _debian_binary(name: str, package: str) -> str:
    """A program of a Debian package (Postgres keeps its own under a versioned folder)."""
    found = shutil.which(name) or next(iter(sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise ServiceStartError(
            f"the cluster profile needs Debian's package '{package}' ({name} not found): "
            f"run `make cluster-packages` as root, or `sudo apt-get install {package}`")
    return found


def _as_postgres_user() -> list[str]:
    """Postgres refuses to run as root: as root, run it as the ``postgres`` system user
    the Debian package created (``setpriv`` execs, so signals reach postgres itself)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


# --------------------------------------------------------------------------- postgres


def _reachable(path: Path, uid: int, gid: int) -> bool:
    """Whether user ``uid`` (group ``gid``) may traverse every folder down to ``path``."""
    for folder in [*reversed(path.parents)]:
        st = folder.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)
                or (st.st_gid == gid and st.st_mode & 0o010)):
            return False
    return True


def postgres_dir(settings: Settings) -> Path:
    """``<home>/postgres``; as root, when the ``postgres`` user cannot reach the state
    folder (a private temporary folder), a folder of its own under the system's temporary
    folder, named after the state folder."""
    folder = settings.home.absolute() / "postgres"
    if os.geteuid() != 0:
        return folder
    import hashlib
    import pwd
    import tempfile

    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        _debian_binary("postgres", "postgresql")  # names the package when it is missing
        raise ServiceStartError("no 'postgres' user: reinstall Debian's package "
                                "'postgresql'") from None
    if _reachable(folder, user.pw_uid, user.pw_gid):
        return folder
    digest = hashlib.sha256(str(settings.home.absolute()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"lakeops-postgres-{digest}"


def postgres_password(settings: Settings, role: str = "postgres") -> str:
    return get_secret(settings, f"postgres-password-{role}")


def postgres_url(settings: Settings, database: str, driver: str = "postgresql+psycopg2") -> str:
    """Where ``database`` is, as its own role (the password generated on first use)."""
    host = connect_host(settings)
    return (f"{driver}://{database}:{postgres_password(settings, database)}@{host}:"
            f"{settings.postgres_port}/{database}")


def postgres_command(settings: Settings) -> list[str]:
    return [*_as_postgres_user(), _debian_binary("postgres", "postgresql"),
            "-D", str(postgres_dir(settings) / "data"), "-p", str(settings.postgres_port),
            "-c", f"listen_addresses={connect_host(settings)}",
            "-c", f"unix_socket_directories={postgres_dir(settings)}",
            "-c", "max_connections=200", "-c", "shared_buffers=64MB"]


def prepare_postgres(settings: Settings, deadline: float) -> None:
    """``initdb`` on first start: superuser ``postgres`` with a generated password,
    password authentication over TCP only (no socket logins)."""
    folder, data = postgres_dir(settings), postgres_dir(settings) / "data"
    if (data / "PG_VERSION").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    pwfile = folder / ".pwfile"
    write_private(pwfile, postgres_password(settings) + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.log_dir / "postgres-initdb.log"
    with open(log_path, "ab") as fh:
        result = subprocess.run(  # noqa: S603
            [*_as_postgres_user(), _debian_binary("initdb", "postgresql"), "-D", str(data),
             "-U", "postgres", f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
             "--auth-local=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"],
            stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            timeout=max(deadline - time.monotonic(), 30.0), check=False)
    pwfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise ServiceStartError(f"initdb failed (exit {result.returncode}); see {log_path}")


def _psql(settings: Settings) -> object:
    import psycopg2

    return psycopg2.connect(host=connect_host(settings), port=settings.postgres_port,
                            user="postgres", password=postgres_password(settings),
                            dbname="postgres", connect_timeout=3)


def ensure_databases(settings: Settings, deadline: float) -> None:
    """Wait for Postgres, then create each database and its role once (idempotent; a
    role's password is set to the generated one on every start)."""
    import psycopg2
    from psycopg2 import sql

    while True:
        try:
            con = _psql(settings)
            break
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ServiceStartError(f"Postgres on port {settings.postgres_port} did not "
                                        f"accept connections: {exc}") from None
            time.sleep(0.5)
    con.autocommit = True  # type: ignore[attr-defined]  # CREATE DATABASE: no transaction
    with con.cursor() as cur:  # type: ignore[attr-defined]
        for name in PG_DATABASES:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(
                sql.Identifier(name)), (postgres_password(settings, name),))
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if not cur.fetchone():
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(name)))
    con.close()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- redis


def redis_command(settings: Settings) -> list[str]:
    folder = settings.home.absolute() / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    return [_debian_binary("redis-server", "redis-server"), "--port",
            str(settings.redis_port), "--bind", connect_host(settings), "--dir", str(folder),
            "--save", "", "--appendonly", "no", "--protected-mode", "yes"]


def redis_url(settings: Settings) -> str:
    return f"redis://{connect_host(settings)}:{settings.redis_port}/0"


# --------------------------------------------------------------------------- spark


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def spark_env(settings: Settings, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env["SPARK_HOME"] = str(spark_home())
    env["SPARK_LOG_DIR"] = str(settings.log_dir)
    env["SPARK_NO_DAEMONIZE"] = "1"
    env["PYSPARK_PYTHON"] = sys.executable
    return env


def spark_master_command(settings: Settings) -> list[str]:
    return [str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.master.Master",
            "--host", connect_host(settings), "--port", str(settings.spark_master_port),
            "--webui-port", str(settings.spark_ui_port)]


def spark_worker_command(index: int) -> Callable[[Settings], list[str]]:
    def command(settings: Settings) -> list[str]:
        work = settings.home.absolute() / "spark-work" / f"worker-{index}"
        work.mkdir(parents=True, exist_ok=True)
        return [str(spark_home() / "bin" / "spark-class"),
                "org.apache.spark.deploy.worker.Worker", settings.spark_master,
                "--host", connect_host(settings), "--cores", str(settings.spark_worker_cores),
                "--memory", settings.spark_worker_memory, "--work-dir", str(work),
                "--webui-port", str(settings.spark_ui_port + index)]
    return command


# --------------------------------------------------------------------------- celery


def celery_worker_command(index: int) -> Callable[[Settings], list[str]]:
    def command(settings: Settings) -> list[str]:
        # the tasks' libraries imported before the pool forks (lakeops.airflow.warm)
        return [sys.executable, "-m", "lakeops.airflow.warm", "celery", "worker",
                "--celery-hostname", f"worker-{index}@{socket.gethostname()}",
                "--concurrency", str(settings.airflow_worker_concurrency),
                "--skip-serve-logs"]
    return command


def tasks_received(settings: Settings) -> dict[str, int]:
    """Tasks each Celery worker received since it started logging (its log's lines)."""
    return {log.stem: len(re.findall(r"Task [\w.]+\[[0-9a-f-]+\] received",
                                     log.read_text(errors="replace")))
            for log in sorted(settings.log_dir.glob("airflow-worker-*.log"))}


def spark_master_state(settings: Settings) -> dict[str, Any]:
    """The standalone master's own summary (its UI's ``/json/``): workers, applications."""
    import httpx

    url = f"http://{connect_host(settings)}:{settings.spark_ui_port}/json/"
    return dict(httpx.get(url, timeout=10).json())


# --------------------------------------------------------------------------- health


@dataclass(frozen=True)
class Tcp:
    """Healthy when the port accepts a connection (and, given ``send``, answers with
    ``expect``)."""

    send: bytes = b""
    expect: bytes = b""

    def __call__(self, probe: Probe) -> tuple[bool, str]:
        try:
            with socket.create_connection((connect_host(probe.settings), probe.port or 0),
                                          timeout=2) as sock:
                if self.send:
                    sock.sendall(self.send)
                    answer = sock.recv(64)
                    if not answer.startswith(self.expect):
                        return False, f"answered {answer[:32]!r}"
        except OSError as exc:
            return False, f"port {probe.port}: {exc}"
        return True, f"port {probe.port} answers"
