"""One typed settings object, read from ``LAKEOPS_*`` environment variables.

Nothing here touches the disk or the network: building a :class:`Settings` only reads the
environment. Folders are created by the code that needs them (``lakeops up``, the lake
writer), never on import.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def repo_root() -> Path:
    """The checkout this package was installed from (editable install: ``plugins/lakeops``)."""
    return Path(__file__).resolve().parents[3]


class Profile(StrEnum):
    LOCAL = "local"
    COMPOSE = "compose"
    # the production topology as local processes (lakeops.services.cluster)
    CLUSTER = "cluster"


class SettingsError(ValueError):
    """The settings cannot work together; the message names the variable to change."""


def _refuse_overlap(landing: str, lake: str) -> None:
    """Deliveries hold PII in clear: their folder must be neither the lake, nor inside it,
    nor hold it."""
    def norm(uri: str) -> str:
        if uri.startswith("s3://"):
            return "s3://" + "/".join(p for p in uri.removeprefix("s3://").split("/") if p)
        return Path(uri).resolve().as_posix()

    a, b = norm(landing), norm(lake)
    if a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/"):
        raise SettingsError(
            f"the landing zone {landing} overlaps the lake {lake}: deliveries hold PII in "
            f"clear and must live beside the lake, never inside it; set LAKEOPS_LANDING_URI "
            f"to a folder or bucket outside the lake")


class Settings(BaseSettings):
    """Every knob of the platform. Local defaults need no environment at all."""

    model_config = SettingsConfigDict(env_prefix="LAKEOPS_", extra="ignore")

    profile: Profile = Profile.LOCAL
    home: Path = Field(default=Path(".lakeops"), description="state folder")
    lake_uri: str = Field(default="", description="local folder or s3://bucket/prefix")

    # object store (MinIO in compose, moto in tests); unused for a local-folder lake
    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    # landing zone: deliveries as delivered (PII in clear), kept beside the lake, never
    # inside it, so nothing that reads the lake (the SQL endpoint, Dremio) reaches them.
    # ``landing_uri`` is the root holding the ``landing/`` folder: a local folder or
    # s3://bucket[/prefix]; empty = the lake root's parent (see ``landing_root``). Its keys
    # default to the lake's; endpoint and region are the lake's.
    landing_uri: str = ""
    landing_s3_access_key: SecretStr | None = None
    landing_s3_secret_key: SecretStr | None = None
    # archived deliveries of PII-bearing tables are purged after this many days
    # (the purge_landing DAG; their manifests are kept forever)
    landing_retention_days: int = Field(default=30, ge=0)

    host: str = "127.0.0.1"
    airflow_port: int = 8080
    mlflow_port: int = 5000
    flight_port: int = 32010
    superset_port: int = 8088
    superset_host: str | None = None  # defaults to ``host``; the compose profile's service
    docs_port: int = 8090
    # drift monitoring (lakeops.ml.monitor): the Evidently UI over <home>/evidently, and
    # when drift raises the retraining alert: the share of drifted features (Evidently's
    # per-column tests, or PSI above ml_psi_threshold) reaching ml_drift_share_threshold
    evidently_port: int = 8000
    ml_drift_share_threshold: float = Field(default=0.3, gt=0, le=1)
    ml_psi_threshold: float = Field(default=0.2, gt=0)

    airflow_parallelism: int = 4
    airflow_admin_user: str = "admin"
    superset_admin_user: str = "admin"
    # how long the ingest sensor waits for a day's delivery before failing the run
    delivery_timeout_s: int = 6 * 3600
    delivery_poke_s: int = 60
    # memory of the DuckDB of one ingest or validation task (past it, DuckDB spills to a
    # temporary folder): what bounds a task whatever the size of the delivery
    task_memory_mb: int = Field(default=1024, ge=128)

    # transforms: Spark master (local[*] embedded, spark://host:7077 in compose); dbt target
    # follows the profile (local -> dbt-duckdb, compose -> dbt-dremio) unless set
    spark_master: str = "local[*]"  # the cluster profile: spark://<host>:<spark_master_port>
    spark_driver_memory: str = "2g"
    dbt_target: str | None = None

    # lakehouse SQL (Dremio's Flight protocol): Dremio in compose, the embedded endpoint here
    flight_host: str | None = None  # defaults to ``host``
    flight_user: str = "analyst"  # who lakeops sql, Superset and dbt connect as
    flight_password: SecretStr | None = None  # local profile: generated secret
    flight_token: SecretStr | None = None  # a Dremio personal access token instead
    flight_tls: bool = False
    flight_tls_cert: Path | None = None
    flight_tls_key: Path | None = None
    flight_token_ttl_s: int = 3600

    # who may read what through the embedded endpoint: user -> role, role -> lake zones
    # (JSON in the environment); each user's password is generated (or
    # LAKEOPS_SECRET_SQL_PASSWORD_<USER>). The landing zone is never served.
    sql_users: dict[str, str] = {"analyst": "analyst", "steward": "steward"}
    sql_roles: dict[str, list[str]] = {
        "analyst": ["curated", "features", "marts", "predictions", "monitoring"],
        "steward": ["curated", "features", "marts", "predictions", "monitoring",
                    "raw", "quarantine"],
    }
    # limits of the embedded endpoint: memory for the endpoint as a whole and per query
    # (default: the whole split over the concurrent queries plus the catalog), queries
    # running at once (more wait up to sql_queue_timeout_s), time per query
    sql_memory_mb: int = Field(default=2048, ge=64)
    sql_query_memory_mb: int | None = Field(default=None, ge=32)
    sql_max_concurrent: int = Field(default=4, ge=1)
    sql_query_timeout_s: float = Field(default=300.0, gt=0)
    sql_queue_timeout_s: float = Field(default=30.0, ge=0)
    sql_threads: int | None = Field(default=None, ge=1)  # per query; default: all cores

    # model training and the promotion gate (lakeops.ml.train, lakeops.ml.gate).
    # Training: the latest ml_holdout_fraction of the time values is the holdout; the
    # search tries the first ml_search_size hyper-parameter combinations over
    # ml_cv_folds time-ordered folds; ml_seed fixes every random choice; at most
    # ml_reference_rows training rows are kept as the drift reference.
    ml_holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    ml_cv_folds: int = Field(default=3, ge=2)
    ml_search_size: int = Field(default=4, ge=1)
    ml_seed: int = 42
    ml_reference_rows: int = Field(default=50_000, ge=1)
    ml_threshold: float = Field(default=0.5, gt=0, lt=1)  # probability -> predicted class
    # scoring covers the newest ml_score_days intervals with features (not a historical
    # load's weeks of days)
    ml_score_days: int = Field(default=3, ge=1)
    # the gate: the challenger must beat the champion (or, for the first version, a
    # constant baseline) on the primary metric by the margin; recall on each critical
    # slice >= ml_min_critical_recall (slices with < ml_min_slice_positives positives are
    # reported, not failed); per sensitive column, ml_fairness_metric may differ by at most
    # ml_max_fairness_gap across groups of >= ml_min_slice_rows rows; adding engagement
    # may raise no probability by more than ml_direction_tolerance.
    ml_promotion_margin: float = Field(default=0.01, ge=0)
    ml_min_critical_recall: float = Field(default=0.5, ge=0, le=1)
    ml_min_slice_positives: int = Field(default=10, ge=1)
    ml_max_fairness_gap: float = Field(default=0.2, ge=0)
    ml_fairness_metric: str = "recall"
    ml_min_slice_rows: int = Field(default=50, ge=1)
    # the gap fails only when its lower one-sided confidence bound is over the bound
    # (proportion metrics; 0 = judge the raw gap)
    ml_fairness_confidence: float = Field(default=0.95, ge=0, lt=1)
    ml_direction_tolerance: float = Field(default=1e-6, ge=0)
    # rollback: the champion goes back when its realised metric on a window falls more than
    # this under the previous champion's on the same window
    ml_rollback_margin: float = Field(default=0.0, ge=0)

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    # the cluster profile (LAKEOPS_PROFILE=cluster): Postgres, Redis, Celery workers and a
    # Spark standalone cluster as local processes
    postgres_port: int = 5433  # not 5432: a machine's own Postgres may hold it
    redis_port: int = 6380  # not 6379: a machine's own Redis may hold it
    spark_master_port: int = 7077
    spark_ui_port: int = 8081  # the master's UI; worker i's is this + i
    cluster_celery_workers: int = Field(default=2, ge=1)
    cluster_spark_workers: int = Field(default=2, ge=1)
    airflow_worker_concurrency: int = Field(default=2, ge=1)  # task slots per Celery worker
    spark_worker_cores: int = Field(default=1, ge=1)
    spark_worker_memory: str = "1g"

    @property
    def connect_host(self) -> str:
        """Where a client on this machine reaches a service bound to ``host``."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host

    @model_validator(mode="after")
    def _cluster_spark(self) -> Settings:
        if self.profile is Profile.CLUSTER and self.spark_master == "local[*]":
            self.spark_master = f"spark://{self.connect_host}:{self.spark_master_port}"
        return self

    @model_validator(mode="after")
    def _sql_limits_fit(self) -> Settings:
        per_query = self.sql_query_memory_mb
        if per_query is not None and per_query * (self.sql_max_concurrent + 1) > self.sql_memory_mb:
            raise ValueError(
                f"LAKEOPS_SQL_QUERY_MEMORY_MB={per_query} x (LAKEOPS_SQL_MAX_CONCURRENT="
                f"{self.sql_max_concurrent} + the catalog) exceeds LAKEOPS_SQL_MEMORY_MB="
                f"{self.sql_memory_mb}: raise the whole or lower one of the others")
        unknown = sorted({r for r in self.sql_users.values()} - set(self.sql_roles))
        if unknown:
            raise ValueError(f"LAKEOPS_SQL_USERS names role(s) {', '.join(unknown)} that "
                             f"LAKEOPS_SQL_ROLES does not define")
        return self

    @property
    def sql_query_memory(self) -> int:
        """Memory one query may use, in MB (the catalog counts as one more query)."""
        return self.sql_query_memory_mb or self.sql_memory_mb // (self.sql_max_concurrent + 1)

    @cached_property
    def lake(self) -> str:
        """The lake root: ``lake_uri`` when set, else ``<home>/lake``."""
        return self.lake_uri.rstrip("/") if self.lake_uri else str(self.home / "lake")

    @property
    def lake_is_s3(self) -> bool:
        return self.lake.startswith("s3://")

    @cached_property
    def landing_root(self) -> str:
        """The root holding the ``landing/`` folder: ``landing_uri`` when set, else the lake
        root's parent (``<home>/lake`` -> ``<home>``, ``s3://bucket/prefix`` ->
        ``s3://bucket``). Raises ``ValueError`` when it cannot be derived (a lake at an S3
        bucket's root) or when its ``landing/`` folder would overlap the lake."""
        if self.landing_uri:
            root = self.landing_uri.rstrip("/")
            if not root.startswith("s3://"):
                root = str(Path(root).expanduser().absolute())
        elif self.lake_is_s3:
            bucket_and_prefix = self.lake.removeprefix("s3://").strip("/")
            if "/" not in bucket_and_prefix:
                raise SettingsError(
                    f"the lake is the root of the bucket {self.lake}, so the landing zone "
                    f"cannot lie beside it; set LAKEOPS_LANDING_URI (e.g. "
                    f"s3://<another-bucket>) to where deliveries land")
            root = "s3://" + bucket_and_prefix.rsplit("/", 1)[0]
        else:
            root = str(Path(self.lake).absolute().parent)
        _refuse_overlap(f"{root}/landing", self.lake)
        return root

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def mlflow_home(self) -> Path:
        return self.home / "mlflow"

    @property
    def superset_home(self) -> Path:
        return self.home / "superset"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    @property
    def dags_folder(self) -> Path:
        return repo_root() / "dags"

    @property
    def plugins_folder(self) -> Path:
        return repo_root() / "plugins"

    @property
    def spark_jobs_dir(self) -> Path:
        return repo_root() / "spark_jobs"

    @property
    def dbt_project_dir(self) -> Path:
        return repo_root() / "dbt"

    @property
    def dbt_target_name(self) -> str:
        return self.dbt_target or ("dremio" if self.profile is Profile.COMPOSE else "local")

    @property
    def contracts_dir(self) -> Path:
        return repo_root() / "expectations" / "contracts"

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def airflow_url(self) -> str:
        return self.url(self.airflow_port)

    @property
    def mlflow_url(self) -> str:
        return self.url(self.mlflow_port)

    @property
    def docs_url(self) -> str:
        return self.url(self.docs_port)

    @property
    def evidently_url(self) -> str:
        return self.url(self.evidently_port)

    @property
    def superset_url(self) -> str:
        return f"http://{self.superset_host or self.host}:{self.superset_port}"


def get_settings(**overrides: object) -> Settings:
    """Fresh settings from the environment (overrides win); cheap, no side effects."""
    return Settings(**overrides)  # type: ignore[arg-type]


def lakeops_env(settings: Settings) -> dict[str, str]:
    """Every ``LAKEOPS_*`` variable that rebuilds ``settings`` in a child process."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, dict | list):  # pydantic-settings reads complex values as JSON
            env[f"LAKEOPS_{name.upper()}"] = json.dumps(value)
            continue
        env[f"LAKEOPS_{name.upper()}"] = str(getattr(value, "value", value))
    env["LAKEOPS_HOME"] = str(settings.home.absolute())
    return env
