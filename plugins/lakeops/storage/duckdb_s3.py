"""DuckDB over an S3 lake (MinIO, or moto in tests): the httpfs extension comes from the
installed ``duckdb-extension-httpfs`` wheel into ``<home>/duckdb_extensions`` (DuckDB
never downloads it), and one secret scoped to the lake carries the settings' keys."""

from __future__ import annotations

from pathlib import Path

import duckdb

from lakeops.core import sqltext
from lakeops.core.settings import Settings
from lakeops.storage.object_store import ObjectStore


def extension_dir(settings: Settings) -> Path:
    return settings.home / "duckdb_extensions"


def install_httpfs(settings: Settings) -> Path:
    """Put httpfs where DuckDB connections with ``extension_directory`` set to the
    returned folder find it (idempotent); they still ``LOAD httpfs`` themselves."""
    from duckdb_extensions import import_extension

    folder = extension_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"extension_directory": str(folder)})
    try:
        import_extension("httpfs", con=con)
    finally:
        con.close()
    return folder


def secret_options(settings: Settings) -> dict[str, str]:
    """Options of DuckDB's ``CREATE SECRET (TYPE s3, ...)`` that reach the lake."""
    return ObjectStore.from_settings(settings).duckdb_secret(scope=settings.lake)


def attach_lake(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Load httpfs into ``con`` (installed first if needed) and create the lake's secret."""
    folder = install_httpfs(settings)
    con.execute(f"SET extension_directory = {sqltext.literal(str(folder))}")
    con.execute("LOAD httpfs")
    body = ", ".join(f"{k.upper()} {sqltext.literal(v)}"
                     for k, v in secret_options(settings).items())
    con.execute(f"CREATE SECRET lake (TYPE s3, {body})")
