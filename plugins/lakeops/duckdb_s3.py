"""DuckDB over an S3 lake (MinIO, or moto in tests): the httpfs extension comes from the
installed ``duckdb-extension-httpfs`` wheel into ``<home>/duckdb_extensions`` (DuckDB
never downloads it), and one secret scoped to the lake carries the settings' keys."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from lakeops.query.catalog import sql_literal
from lakeops.settings import Settings


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
    options = {"region": settings.s3_region, "scope": settings.lake}
    if settings.s3_access_key and settings.s3_secret_key:
        options["key_id"] = settings.s3_access_key.get_secret_value()
        options["secret"] = settings.s3_secret_key.get_secret_value()
    if settings.s3_endpoint:
        endpoint = urlsplit(settings.s3_endpoint)
        options.update(endpoint=endpoint.netloc, url_style="path",
                       use_ssl=str(endpoint.scheme == "https").lower())
    return options


def attach_lake(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    """Load httpfs into ``con`` (installed first if needed) and create the lake's secret."""
    folder = install_httpfs(settings)
    con.execute(f"SET extension_directory = {sql_literal(str(folder))}")
    con.execute("LOAD httpfs")
    body = ", ".join(f"{k.upper()} {sql_literal(v)}"
                     for k, v in secret_options(settings).items())
    con.execute(f"CREATE SECRET lake (TYPE s3, {body})")
