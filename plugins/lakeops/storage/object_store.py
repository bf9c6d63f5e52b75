"""How every client reaches the object store (MinIO in compose, moto in tests, AWS S3).

One :class:`ObjectStore`, built from the settings, spells the endpoint, region and keys in
each client's own vocabulary: ``pyarrow.fs.S3FileSystem`` arguments, DuckDB's
``CREATE SECRET (TYPE s3, ...)`` options, Spark's ``fs.s3a.*`` configuration, boto3
client arguments, and the ``AWS_*`` / ``MLFLOW_S3_ENDPOINT_URL`` environment that
MLflow, dbt and spark-submit read. Keys go into environments and in-memory options,
never onto a command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from lakeops.core.settings import Settings


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str | None  # http(s)://host:port, or None for AWS itself
    region: str
    access_key: str | None
    secret_key: str | None

    @classmethod
    def from_settings(cls, settings: Settings,
                      store: Literal["lake", "landing"] = "lake") -> ObjectStore:
        """The lake's store, or (``store="landing"``) the landing zone's: same endpoint and
        region, its own keys (``landing_s3_*``) when both are set, else the lake's."""
        access, secret = settings.s3_access_key, settings.s3_secret_key
        if store == "landing" and settings.landing_s3_access_key and \
                settings.landing_s3_secret_key:
            access, secret = settings.landing_s3_access_key, settings.landing_s3_secret_key
        keys = bool(access and secret)  # a key is used only with its pair
        return cls(
            endpoint=settings.s3_endpoint or None,
            region=settings.s3_region,
            access_key=access.get_secret_value() if keys and access else None,
            secret_key=secret.get_secret_value() if keys and secret else None,
        )

    @property
    def has_keys(self) -> bool:
        return self.access_key is not None and self.secret_key is not None

    @property
    def secure(self) -> bool:
        return (self.endpoint is None or "://" not in self.endpoint
                or urlsplit(self.endpoint).scheme == "https")

    @property
    def host(self) -> str | None:
        """``host:port`` of the endpoint (what DuckDB, Dremio and s3a take)."""
        if not self.endpoint:
            return None
        return urlsplit(self.endpoint).netloc if "://" in self.endpoint else self.endpoint

    def pyarrow_options(self) -> dict[str, Any]:
        """Arguments of ``pyarrow.fs.S3FileSystem``."""
        options: dict[str, Any] = {"region": self.region}
        if self.endpoint:
            options.update(endpoint_override=self.host,
                           scheme="https" if self.secure else "http")
        if self.has_keys:
            options.update(access_key=self.access_key, secret_key=self.secret_key)
        return options

    def duckdb_secret(self, scope: str) -> dict[str, str]:
        """Options of DuckDB's ``CREATE SECRET (TYPE s3, ...)``, scoped to ``scope``."""
        options = {"region": self.region, "scope": scope}
        if self.has_keys:
            options.update(key_id=str(self.access_key), secret=str(self.secret_key))
        if self.endpoint:
            options.update(endpoint=str(self.host), url_style="path",
                           use_ssl=str(self.secure).lower())
        return options

    def s3a_conf(self) -> dict[str, str]:
        """Hadoop s3a settings for Spark (without ``spark.hadoop.``; keys travel as the
        ``AWS_*`` environment of :meth:`environment`)."""
        conf = {"fs.s3a.path.style.access": "true", "fs.s3a.endpoint.region": self.region}
        if self.endpoint:
            conf["fs.s3a.endpoint"] = self.endpoint
            conf["fs.s3a.connection.ssl.enabled"] = str(self.secure).lower()
        return conf

    def boto3_options(self) -> dict[str, Any]:
        """Arguments of ``boto3.client("s3", ...)``."""
        return {"endpoint_url": self.endpoint, "region_name": self.region,
                "aws_access_key_id": self.access_key,
                "aws_secret_access_key": self.secret_key}

    def environment(self) -> dict[str, str]:
        """``AWS_*`` variables (boto3, s3a, dbt) and MLflow's artifact endpoint."""
        env = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.has_keys:
            env.update(AWS_ACCESS_KEY_ID=str(self.access_key),
                       AWS_SECRET_ACCESS_KEY=str(self.secret_key))
        if self.endpoint:
            env.update(MLFLOW_S3_ENDPOINT_URL=self.endpoint, AWS_ENDPOINT_URL_S3=self.endpoint)
        return env
