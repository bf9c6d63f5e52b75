"""What tests of several modules call: free loopback ports, the settings of a throw-away
platform, a mart written as dbt writes it, the docs site in-process, the compose file.

Fixtures live in the ``conftest.py`` files (pytest finds them by name); the helpers a test
calls itself live here, in a module every tier imports by its name (a ``conftest.py`` is
imported by pytest under a name of its own, so importing one a second time gives a second
copy of its state).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import yaml

from lakeops.core.settings import Settings, repo_root
from lakeops.ml import data
from lakeops.services.ports import free_port
from lakeops.storage.lake import DATA_FILE, Lake

# --------------------------------------------------------------------------- ports


# every service's port setting but the Spark UIs' (a block: see platform_settings)
SERVICE_PORTS = ("airflow_port", "mlflow_port", "docs_port", "flight_port", "evidently_port",
                 "superset_port", "postgres_port", "redis_port", "spark_master_port")


def platform_settings(home: Path, **overrides: Any) -> Settings:
    """Settings of a throw-away platform in ``home``: every service on a free loopback port
    of its own (none shared, none a running platform's), then ``overrides``."""
    workers = overrides.get("cluster_spark_workers",
                            Settings.model_fields["cluster_spark_workers"].default)
    while True:
        ports = {name: free_port() for name in SERVICE_PORTS}
        ui = free_port(1 + workers)
        taken = [*ports.values(), *range(ui, ui + 1 + workers)]
        if len(set(taken)) == len(taken):
            break
    return Settings(home=home, **{**ports, "spark_ui_port": ui, **overrides})


# --------------------------------------------------------------------------- the lake


def write_mart(lake: Lake, mart: str, rows: pd.DataFrame) -> None:
    """As dbt writes a mart: ``marts/<mart>/part-0.parquet``, replaced."""
    lake.write_table(f"{data.mart_path(mart)}/{DATA_FILE}",
                     pa.Table.from_pandas(rows, preserve_index=False))


# --------------------------------------------------------------------------- the docs site


@contextlib.contextmanager
def docs_server(root: Path | Lake, assets: Path | None = None) -> Iterator[str]:
    """The docs site, in-process on a free port; yields its base URL."""
    from lakeops.services.docs_site import make_server

    server = make_server("127.0.0.1", 0, root, assets)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# anything a page could make a browser fetch or follow: src/href attributes (quoted or
# not), CSS url(...) and @import, pointing at another host
_EXTERNAL = r"(?:https?:)?//"
EXTERNAL_REFS = re.compile(
    rf"(?:\b(?:src|href|action|poster|data)\s*=\s*[\"']?\s*{_EXTERNAL}[^\s\"'>]*)"
    rf"|(?:url\(\s*[\"']?\s*{_EXTERNAL}[^)]*\))"
    rf"|(?:@import\s+[\"']\s*{_EXTERNAL}[^\"']*)",
    re.IGNORECASE,
)


def raw_get(base: str, path: str) -> int:
    """A request whose path no client normalises (``..``, ``%2e``) first."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


# --------------------------------------------------------------------------- compose

COMPOSE_FILE = repo_root() / "docker-compose.yml"
# ``${NAME:?message}``: a variable the compose file requires from .env
REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]*\}")


def compose_file() -> dict[str, Any]:
    """docker-compose.yml, read."""
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


def compose_env(service: str, secrets: dict[str, str]) -> dict[str, str]:
    """The environment compose gives ``service``, with ``.env``'s secrets filled in."""
    env = compose_file()["services"][service]["environment"]
    return {k: REQUIRED.sub(lambda m: secrets[m.group(1)], str(v)) for k, v in env.items()}


def compose_worker_settings(secrets: dict[str, str], monkeypatch: Any) -> Settings:
    """Settings exactly as the Airflow worker container builds them: its environment,
    nothing of the test run's ``LAKEOPS_*`` (``monkeypatch``: pytest's, undone after)."""
    for key in [k for k in os.environ if k.startswith("LAKEOPS_")]:
        monkeypatch.delenv(key)
    for key, value in compose_env("airflow-worker", secrets).items():
        monkeypatch.setenv(key, value)
    return Settings()
