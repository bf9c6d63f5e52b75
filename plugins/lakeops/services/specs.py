"""One declarative entry per service of the embedded default (``lakeops up``).

Adding a service is adding one :class:`Service` to :data:`SERVICES`. Everything else reads
the entries: the supervisord configuration (:mod:`lakeops.services.supervisord`), the
port-clash check (``port_setting`` names the :class:`~lakeops.core.settings.Settings` field,
hence the ``LAKEOPS_*_PORT`` variable), ``lakeops status`` and its health probes
(:mod:`lakeops.services.health`), the access table ``lakeops up`` prints (``title``,
``login``) and the Airflow menu links (``links``, read by ``plugins/lakeops_airflow_plugin.py``).

Building an entry does no I/O: commands and environments are functions of the settings,
called only when ``lakeops up`` starts the service (the Airflow environment generates its
secrets on first use).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from lakeops.core.settings import Settings
from lakeops.services.airflow import (
    airflow_admin_password,
    airflow_env,
    base_env,
    mlflow_env,
    prepare_airflow,
    prepare_mlflow,
)
from lakeops.services.health import AirflowComponent, Flight, HealthCheck, Http, Running

PY = sys.executable


@dataclass(frozen=True)
class Link:
    """A page of a service in Airflow's Browse menu: ``path`` below the service's URL."""

    label: str
    path: str = "/"


@dataclass(frozen=True)
class Backoff:
    """Delays between restarts of a crashed program (applied by ``launch.py``).

    After ``k`` consecutive runs that each lasted less than ``stable_s``, the next start
    waits ``min(base_s * 2 ** (k - 1), max_s)``; a run that lasted ``stable_s`` resets it.
    """

    base_s: float = 1.0
    max_s: float = 60.0
    stable_s: float = 30.0


def http_url(settings: Settings, port: int) -> str:
    return settings.url(port)


def flight_url(settings: Settings, port: int) -> str:
    return f"grpc+{'tls' if settings.flight_tls else 'tcp'}://{settings.host}:{port}"


@dataclass(frozen=True)
class Service:
    """One supervised program."""

    name: str
    command: Callable[[Settings], list[str]]
    environment: Callable[[Settings], dict[str, str]] = base_env
    port_setting: str | None = None  # a Settings field; its variable is LAKEOPS_<FIELD>
    health: HealthCheck = Running()
    url: Callable[[Settings, int], str] = http_url
    title: str | None = None  # its row in the access table `lakeops up` prints
    login: Callable[[Settings], str] | None = None  # credentials shown in that row
    links: tuple[Link, ...] = ()  # Airflow menu entries
    group: str | None = None  # `lakeops up <group>` (or any member) starts the whole group
    # once per `up`, before the first program that names it starts (deadline: monotonic)
    prepare: Callable[[Settings, float], None] | None = None
    stop_wait_s: int = 15  # SIGTERM to the process group, then SIGKILL after this
    # services it cannot start without (the cluster profile's Postgres, Redis): started
    # with it by `lakeops up <it>`
    needs: tuple[str, ...] = ()
    backoff: Backoff = Backoff()

    def port(self, settings: Settings) -> int | None:
        return None if self.port_setting is None else int(getattr(settings, self.port_setting))

    @property
    def port_var(self) -> str | None:
        return None if self.port_setting is None else f"LAKEOPS_{self.port_setting.upper()}"

    def url_for(self, settings: Settings, port: int | None = None) -> str | None:
        port = self.port(settings) if port is None else port
        return None if port is None else self.url(settings, port)


# --------------------------------------------------------------------------- commands


def _docs(s: Settings) -> list[str]:
    return [PY, "-m", "lakeops.services.docs_site", "--host", s.host, "--port", str(s.docs_port)]


def _sql(s: Settings) -> list[str]:
    return [PY, "-m", "lakeops.query.server", "--port", str(s.flight_port)]


def _mlflow(s: Settings) -> list[str]:
    host, port = s.host, s.mlflow_port
    allowed = ",".join(
        sorted({f"{h}{p}" for h in (host, "localhost", "127.0.0.1") for p in ("", f":{port}")})
    )
    return [
        PY, "-m", "mlflow", "server", "--host", host, "--port", str(port), "--workers", "1",
        "--backend-store-uri", _mlflow_store(s),
        "--artifacts-destination", f"{s.lake}/mlflow-artifacts",
        "--allowed-hosts", allowed,
    ]


def _mlflow_store(s: Settings) -> str:
    """SQLite in the state folder; Postgres in the cluster profile."""
    from lakeops.core.settings import Profile

    if s.profile is Profile.CLUSTER:
        from lakeops.services import cluster

        return cluster.postgres_url(s, "mlflow", driver="postgresql")
    return f"sqlite:///{s.mlflow_home.absolute()}/mlflow.db"


def _evidently(s: Settings) -> list[str]:
    """Evidently's UI over the workspace drift monitoring adds its runs to."""
    from pathlib import Path

    from lakeops.ml.workspace import workspace_dir

    return [str(Path(PY).parent / "evidently"), "ui", "--workspace", str(workspace_dir(s)),
            "--host", s.host, "--port", str(s.evidently_port)]


def _prepare_evidently(s: Settings, deadline: float) -> None:
    from lakeops.ml.workspace import workspace_dir

    workspace_dir(s).mkdir(parents=True, exist_ok=True)


def _airflow(*args: str) -> Callable[[Settings], list[str]]:
    def command(s: Settings) -> list[str]:
        extra = ["--host", s.host, "--port", str(s.airflow_port), "--workers", "1"]
        return [PY, "-m", "airflow", *args, *(extra if args == ("api-server",) else ())]

    return command


def _warm_scheduler(s: Settings) -> list[str]:
    return [PY, "-m", "lakeops.airflow.warm", "scheduler", "--skip-serve-logs"]


def _superset(s: Settings) -> list[str]:
    """Prepares Superset's metadata DB, then execs gunicorn (lakeops.services.superset)."""
    return [PY, "-m", "lakeops.services.superset"]


def _superset_env(s: Settings) -> dict[str, str]:
    from lakeops.services.superset import superset_env

    return superset_env(s)


def _superset_login(s: Settings) -> str:
    from lakeops.services.superset import superset_admin_password

    return f"user {s.superset_admin_user}  password {superset_admin_password(s)}"


def _flight_login(s: Settings) -> str:
    """Every endpoint user with its password (the first is the one clients use)."""
    from lakeops.query import grants

    users = sorted(s.sql_users, key=lambda u: u != s.flight_user)
    return "; ".join(
        f"user {u}" + (f" (role {s.sql_users[u]})" if s.sql_users[u] != u else "")
        + "  password " + ("(LAKEOPS_FLIGHT_PASSWORD)" if u == s.flight_user
                           and s.flight_password else grants.password(s, u))
        for u in users)


def _airflow_login(s: Settings) -> str:
    return f"user {s.airflow_admin_user}  password {airflow_admin_password(s)}"


# --------------------------------------------------------------------------- the entries

SERVICES: tuple[Service, ...] = (
    Service(
        "docs", _docs, port_setting="docs_port", health=Http("/"), title="Docs site",
        links=(Link("Validation data docs", "/data_docs/index.html"),
               Link("dbt docs", "/dbt_docs/index.html"),
               Link("Reports", "/")),
    ),
    Service(
        "sql", _sql, port_setting="flight_port", health=Flight(), url=flight_url,
        title="SQL (Flight)", login=_flight_login,
    ),
    Service(
        "mlflow", _mlflow, mlflow_env, port_setting="mlflow_port", health=Http("/health"),
        title="MLflow", links=(Link("MLflow", "/"),), prepare=prepare_mlflow,
    ),
    # drift reports of every monitored interval, one project per model (lakeops.ml.monitor)
    Service(
        "evidently", _evidently, port_setting="evidently_port", health=Http("/api/version"),
        title="Evidently UI", links=(Link("Evidently UI", "/"),), prepare=_prepare_evidently,
    ),
    # dashboards over the SQL endpoint; its own environment (SQLAlchemy < 2)
    Service(
        "superset", _superset, _superset_env, port_setting="superset_port",
        health=Http("/health"), title="Superset", login=_superset_login,
        links=(Link("Superset", "/"),), stop_wait_s=20,
    ),
    Service(
        "airflow-api-server", _airflow("api-server"), airflow_env,
        port_setting="airflow_port", health=AirflowComponent(), title="Airflow UI",
        login=_airflow_login, group="airflow", prepare=prepare_airflow,
    ),
    Service(
        "airflow-dag-processor", _airflow("dag-processor"), airflow_env,
        health=AirflowComponent("dag_processor"), group="airflow", prepare=prepare_airflow,
    ),
    # logs are read from the shared local folder: no log-serving port to collide on; the
    # scheduler imports the tasks' libraries before its LocalExecutor forks (warm_airflow)
    Service(
        "airflow-scheduler", _warm_scheduler, airflow_env,
        health=AirflowComponent("scheduler"), group="airflow", prepare=prepare_airflow,
    ),
    Service(
        "airflow-triggerer", _airflow("triggerer", "--skip-serve-logs"), airflow_env,
        health=AirflowComponent("triggerer"), group="airflow", prepare=prepare_airflow,
    ),
)


def _cluster_entries(settings: Settings) -> tuple[tuple[Service, ...], tuple[Service, ...]]:
    """The cluster profile's own programs: those starting before the embedded default's
    (Postgres, Redis, the Spark cluster) and after them (the Celery workers)."""
    from lakeops.services import cluster

    def spark_env(s: Settings) -> dict[str, str]:
        return cluster.spark_env(s, base_env(s))

    before = (
        Service("postgres", cluster.postgres_command, port_setting="postgres_port",
                health=cluster.Tcp(), url=_scheme("postgresql"),
                prepare=cluster.prepare_postgres, stop_wait_s=30),
        Service("redis", cluster.redis_command, port_setting="redis_port",
                health=cluster.Tcp(b"PING\r\n", b"+PONG"), url=_scheme("redis")),
        Service("spark-master", cluster.spark_master_command, spark_env,
                port_setting="spark_ui_port", health=Http("/json/"),
                title="Spark master", links=(Link("Spark master", "/"),), group="spark"),
        *(Service(f"spark-worker-{i}", cluster.spark_worker_command(i), spark_env,
                  health=Running(), group="spark")
          for i in range(1, settings.cluster_spark_workers + 1)),
    )
    after = tuple(
        Service(f"airflow-worker-{i}", cluster.celery_worker_command(i), airflow_env,
                health=Running(), group="airflow", prepare=prepare_airflow, stop_wait_s=30,
                needs=("postgres", "redis"))
        for i in range(1, settings.cluster_celery_workers + 1))
    return before, after


def _scheme(scheme: str) -> Callable[[Settings, int], str]:
    return lambda s, port: f"{scheme}://{s.host}:{port}"


def _cluster_airflow(service: Service) -> Service:
    """An embedded entry as the cluster runs it: Airflow and MLflow need Postgres (Airflow
    Redis too); the scheduler hands tasks to Celery, so it needs no warm imports of the
    task libraries (``warm_airflow``: the Celery workers have them)."""
    if service.name == "airflow-scheduler":
        service = replace(service, command=_airflow("scheduler", "--skip-serve-logs"))
    if service.group == "airflow":
        return replace(service, needs=("postgres", "redis"))
    if service.name == "mlflow":
        return replace(service, needs=("postgres",))
    return service


def entries(settings: Settings | None = None) -> tuple[Service, ...]:
    """The entries of the settings' profile, in start order (read at call time, so tests
    can swap them)."""
    from lakeops.core.settings import Profile, get_settings

    settings = settings or get_settings()
    if settings.profile is not Profile.CLUSTER:
        return SERVICES
    before, after = _cluster_entries(settings)
    return (*before, *map(_cluster_airflow, SERVICES), *after)


def service_names(settings: Settings | None = None) -> tuple[str, ...]:
    return tuple(s.name for s in entries(settings))


def select(services: Iterable[str] | None, settings: Settings | None = None) -> list[Service]:
    """Requested entries in start order; a group name or any member brings the group."""
    known = entries(settings)
    if services is None:
        return list(known)
    wanted = set(services)
    groups = {s.group for s in known if s.group}
    unknown = wanted - {s.name for s in known} - groups
    if unknown:
        valid = ", ".join((*sorted(groups), *(s.name for s in known)))
        raise ValueError(f"unknown service(s) {sorted(unknown)}; valid: {valid}")
    groups_wanted = {s.group for s in known if s.group and (s.name in wanted or s.group in wanted)}
    chosen = [s for s in known if s.name in wanted or (s.group and s.group in groups_wanted)]
    needed = {n for s in chosen for n in s.needs}
    return [s for s in known if s in chosen or s.name in needed]


def menu_views(settings: Settings) -> list[dict[str, str]]:
    """Airflow 3 ``external_views`` (Browse menu, plain links) of every entry's links."""
    views = []
    for service in entries(settings):
        base = service.url_for(settings)
        for link in service.links if base else ():
            views.append({"name": link.label, "href": f"{base}{link.path}",
                          "destination": "nav", "category": "browse"})
    return views


def access_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(title, URL, credentials) of every entry with a title: what ``lakeops up`` prints."""
    rows = []
    for service in entries(settings):
        url = service.url_for(settings)
        if service.title and url:
            rows.append((service.title, url, service.login(settings) if service.login else ""))
    return rows
