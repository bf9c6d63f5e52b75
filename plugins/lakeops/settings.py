"""One typed settings object, read from ``LAKEOPS_*`` environment variables.

Nothing here touches the disk or the network: building a :class:`Settings` only reads the
environment. Folders are created by the code that needs them (``lakeops up``, the lake
writer), never on import.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def repo_root() -> Path:
    """The checkout this package was installed from (editable install: ``plugins/lakeops``)."""
    return Path(__file__).resolve().parents[2]


class Profile(StrEnum):
    LOCAL = "local"
    COMPOSE = "compose"


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

    host: str = "127.0.0.1"
    airflow_port: int = 8080
    mlflow_port: int = 5000
    flight_port: int = 32010
    superset_port: int = 8088
    docs_port: int = 8090

    airflow_parallelism: int = 4
    airflow_admin_user: str = "admin"
    # how long the ingest sensor waits for a day's delivery before failing the run
    delivery_timeout_s: int = 6 * 3600
    delivery_poke_s: int = 60

    # transforms: Spark master (local[*] embedded, spark://host:7077 in compose); dbt target
    # follows the profile (local -> dbt-duckdb, compose -> dbt-dremio) unless set
    spark_master: str = "local[*]"
    spark_driver_memory: str = "2g"
    dbt_target: str | None = None

    # lakehouse SQL (Dremio's Flight protocol): Dremio in compose, the embedded endpoint here
    flight_host: str | None = None  # defaults to ``host``
    flight_user: str = "lakeops"
    flight_password: SecretStr | None = None  # local profile: generated secret
    flight_token: SecretStr | None = None  # a Dremio personal access token instead
    flight_tls: bool = False
    flight_tls_cert: Path | None = None
    flight_tls_key: Path | None = None
    flight_token_ttl_s: int = 3600

    @field_validator("home", mode="after")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @cached_property
    def lake(self) -> str:
        """The lake root: ``lake_uri`` when set, else ``<home>/lake``."""
        return self.lake_uri.rstrip("/") if self.lake_uri else str(self.home / "lake")

    @property
    def lake_is_s3(self) -> bool:
        return self.lake.startswith("s3://")

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def mlflow_home(self) -> Path:
        return self.home / "mlflow"

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


def get_settings(**overrides: object) -> Settings:
    """Fresh settings from the environment (overrides win); cheap, no side effects."""
    return Settings(**overrides)  # type: ignore[arg-type]
