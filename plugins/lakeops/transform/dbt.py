"""Run the dbt project (``dbt/``) against the lake: profiles from settings, one runner.

Two targets, both derived from :class:`~lakeops.core.settings.Settings` and written to
``<home>/dbt/profiles.yml`` (mode 0600) by :func:`write_profiles`:

* ``local`` — dbt-duckdb on ``<home>/dbt/lakeops.duckdb``. Sources read the lake's Parquet
  files, marts are written back as ``<lake>/marts/<model>/part-0.parquet``. No extension is
  installed or auto-loaded, so a run never downloads anything; the lake must therefore be a
  local folder (an ``s3://`` lake would need DuckDB's httpfs).
* ``dremio`` — dbt-dremio against Dremio's REST port. The password is not in the file: the
  profile reads ``LAKEOPS_FLIGHT_PASSWORD``, which :func:`run_dbt` sets for the dbt process
  only. dbt-dremio parses the project with this profile; compiling and running need a
  Dremio server (the compose profile), so nothing has run against one here.

:func:`run_dbt` runs dbt in a child process (``dbt.cli.main``) with the project, profiles,
target, target path and log path filled in, and ``LAKEOPS_LAKE`` set to the lake. A child
process keeps dbt's global state (flags, adapters, the DuckDB connection) out of the
caller, and runs are serialized with a file lock: the DuckDB file takes one writer.

The ``dbt_build`` DAG runs the project through astronomer-cosmos instead (a task per
model, see ``dags/dbt_build.py``); :func:`cosmos_profile` is its profile: the same
``profiles.yml``, written from the settings when a task runs (never when the DAG is
parsed), with the same variables and the same lock around each dbt invocation
(:func:`dbt_session`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import shutil
import subprocess
import sys
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lakeops.catalog import datasets
from lakeops.core.keys import write_private
from lakeops.core.locking import file_lock
from lakeops.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from cosmos.config import ProfileConfig

log = logging.getLogger(__name__)

PROJECT = "lakeops"  # the dbt project and its profile
DREMIO_REST_PORT = 9047
PASSWORD_ENV = "LAKEOPS_FLIGHT_PASSWORD"
AS_OF_ENV = "LAKEOPS_DBT_AS_OF"
S3_KEY_ENV = {"key_id": "LAKEOPS_S3_ACCESS_KEY", "secret": "LAKEOPS_S3_SECRET_KEY"}
DOCS_FILES = ("index.html", "manifest.json", "catalog.json")
# statuses of a node in run_results.json that fail a run
FAILED = {"error", "fail", "runtime error"}


class DbtError(RuntimeError):
    """A dbt command failed; ``nodes`` names the models and tests that did."""

    def __init__(self, message: str, nodes: list[str]) -> None:
        super().__init__(message)
        self.nodes = nodes


def dbt_home(settings: Settings) -> Path:
    """``<home>/dbt``: profiles, the DuckDB file, target/ and logs/."""
    return settings.home / "dbt"


def target_dir(settings: Settings) -> Path:
    return dbt_home(settings) / "target"


def manifest_path(settings: Settings) -> Path:
    """The manifest dbt rewrites on every invocation (each task's ``dbt run`` too)."""
    return target_dir(settings) / "manifest.json"


def dag_manifest_path(settings: Settings) -> Path:
    """The manifest the ``dbt_build`` DAG is rendered from (Cosmos ``LoadMode.DBT_MANIFEST``):
    a copy published atomically after each ``dbt parse``. Other dbt runs rewrite
    ``target/manifest.json`` while the DAG processor may be reading; a half-written file
    there must not change the DAG's shape under a running run."""
    return dbt_home(settings) / "dag-manifest.json"


def _publish_manifest(settings: Settings) -> None:
    target = dag_manifest_path(settings)
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(manifest_path(settings), tmp)
    json.loads(tmp.read_text())  # whole, or the DAG keeps the shape it has
    os.replace(tmp, target)


def docs_dir(settings: Settings) -> str:
    """Where the dbt docs site goes: ``<lake>/reports/dbt_docs`` (served by the docs site)."""
    return f"{settings.lake}/reports/dbt_docs"


def profiles(settings: Settings) -> dict[str, Any]:
    """The ``profiles.yml`` content: targets ``local`` (DuckDB) and ``dremio``."""
    from lakeops.query.catalog import SPACE  # pyarrow: not when a DAG file imports this
    local = {
        "type": "duckdb",
        "path": str(dbt_home(settings) / "lakeops.duckdb"),
        "threads": 2,
        "extensions": [],
        # parquet is built into the duckdb wheel; refuse to fetch anything else
        "settings": {
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    }
    dremio = {
        "type": "dremio",
        "software_host": settings.flight_host or settings.host,
        "port": DREMIO_REST_PORT,
        "user": settings.flight_user,
        "password": "{{ env_var('" + PASSWORD_ENV + "') }}",
        "use_ssl": settings.flight_tls,
        # the lake bucket as Dremio source "lakehouse": marts become lakehouse.marts.<model>
        "object_storage_source": SPACE,
        "object_storage_path": "marts",
        "dremio_space": "lakeops",
        "dremio_space_folder": "dbt",
        "threads": 2,
    }
    if settings.lake_is_s3:
        _reach_s3(local, settings)
    return {
        PROJECT: {
            "target": settings.dbt_target_name,
            "outputs": {"local": local, "dremio": dremio},
        }
    }


def _reach_s3(local: dict[str, Any], settings: Settings) -> None:
    """An S3 lake (MinIO) read and written through httpfs, installed from its wheel into
    the extension folder beforehand (``install`` then finds it: nothing is downloaded);
    the keys stay out of the file: dbt reads them from the environment."""
    from lakeops.storage import duckdb_s3

    local["config_options"] = {"extension_directory": str(duckdb_s3.extension_dir(settings))}
    local["extensions"] = ["httpfs"]
    secret = {"type": "s3", "name": "lake", **duckdb_s3.secret_options(settings)}
    for key, env in S3_KEY_ENV.items():
        if key in secret:
            secret[key] = "{{ env_var('" + env + "') }}"
    local["secrets"] = [secret]


def write_profiles(settings: Settings) -> Path:
    """Write ``<home>/dbt/profiles.yml`` (mode 0600, no secret in it); return the folder."""
    folder = dbt_home(settings)
    folder.mkdir(parents=True, exist_ok=True)
    write_private(folder / "profiles.yml", yaml.safe_dump(profiles(settings), sort_keys=False))
    return folder


def published_as_of(settings: Settings) -> str | None:
    """The newest day every dbt source (each curated table, both feature tables) has
    published: what one run reads (``LAKEOPS_DBT_AS_OF``, macro ``published_as_of``), so a
    day published while the run goes on does not reach half of its models. ``None`` while a
    source has no partition yet (then every partition is read)."""
    from lakeops.storage.lake import Lake

    lake = Lake.from_settings(settings)
    newest = []
    for ds in datasets.DBT_SOURCES:
        days = lake.partitions(ds.zone, ds.dataset)
        if not days:
            return None
        newest.append(max(days))
    return min(newest)


def dbt_variables(settings: Settings) -> dict[str, str]:
    """The variables a dbt invocation needs on top of the caller's environment: the lake
    (``LAKEOPS_LAKE``), no usage tracking, and the secrets the profile reads with
    ``env_var()`` (the Flight password for ``dremio``, the S3 keys for an S3 lake). Computed
    when dbt is about to run, never stored."""
    target = settings.dbt_target_name
    env = {
        "LAKEOPS_LAKE": settings.lake if settings.lake_is_s3
        else str(Path(settings.lake).absolute()),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_USE_COLORS": "false",
    }
    as_of = published_as_of(settings)
    if as_of:
        env[AS_OF_ENV] = as_of
    if target == "local" and settings.lake_is_s3:
        from lakeops.storage import duckdb_s3
        from lakeops.storage.object_store import ObjectStore

        duckdb_s3.install_httpfs(settings)
        store = ObjectStore.from_settings(settings)
        if store.has_keys:
            env[S3_KEY_ENV["key_id"]] = str(store.access_key)
            env[S3_KEY_ENV["secret"]] = str(store.secret_key)
    if target == "dremio":
        if settings.flight_password is None:
            raise ValueError("the dremio dbt target needs LAKEOPS_FLIGHT_PASSWORD")
        env[PASSWORD_ENV] = settings.flight_password.get_secret_value()
    return env


@contextlib.contextmanager
def dbt_session(settings: Settings, exclusive: bool = True) -> Iterator[dict[str, str]]:
    """What a dbt invocation needs for as long as it runs: ``profiles.yml`` written from the
    settings, the marts' folders, the lock (``exclusive``: the DuckDB file takes one
    writer) and :func:`dbt_variables`, which it yields."""
    env = dbt_variables(settings)
    write_profiles(settings)
    _prepare_marts(settings)
    lock = file_lock(dbt_home(settings) / ".lock") if exclusive else contextlib.nullcontext()
    with lock:
        yield env


def _command(args: list[str], settings: Settings) -> list[str]:
    home = dbt_home(settings)
    return [
        sys.executable, "-c", "import sys; from dbt.cli.main import cli; sys.exit(cli())",
        *args,
        "--project-dir", str(settings.dbt_project_dir),
        "--profiles-dir", str(home),
        "--target", settings.dbt_target_name,
        "--target-path", str(target_dir(settings)),
        "--log-path", str(home / "logs"),
    ]


def _node_name(unique_id: str) -> str:
    """``model.lakeops.x`` -> ``model x``; tests lose their hash suffix, unit tests keep
    their model: ``unit_test stg_y::name``."""
    kind, _, rest = unique_id.partition(".")
    parts = rest.split(".")[1:]  # drop the package
    if kind == "test" and len(parts) > 1:
        parts = parts[:-1]
    return f"{kind} {'::'.join(parts)}"


def _failed_nodes(settings: Settings) -> tuple[list[str], int]:
    """Nodes that failed and how many were skipped because of them, from run_results.json."""
    path = target_dir(settings) / "run_results.json"
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return [], 0
    failed, skipped = [], 0
    for result in results:
        status = str(result.get("status", "")).lower()
        if status in FAILED:
            failed.append(_node_name(str(result.get("unique_id", "?"))))
        elif status == "skipped":
            skipped += 1
    return failed, skipped


def _prepare_marts(settings: Settings) -> None:
    """Create ``<lake>/marts/<model>/`` for every mart: DuckDB's COPY writes a file but
    does not create its folder."""
    if settings.dbt_target_name != "local" or settings.lake_is_s3:
        return  # an S3 object needs no folder
    for name in datasets.MART_NAMES:
        (Path(settings.lake) / "marts" / name).mkdir(parents=True, exist_ok=True)


def run_dbt(args: list[str], settings: Settings) -> None:
    """Run ``dbt <args>`` (e.g. ``["build"]``, ``["run", "--select", "x"]``) for the
    configured target; raise :class:`DbtError` naming the failing nodes when it fails."""
    results = target_dir(settings) / "run_results.json"
    with dbt_session(settings) as variables:
        env = {**os.environ, **variables}
        env.pop("DBT_PROFILES_DIR", None)
        env.pop("DBT_PROJECT_DIR", None)
        results.unlink(missing_ok=True)
        log.info("dbt %s (target %s)", " ".join(args), settings.dbt_target_name)
        tail: deque[str] = deque(maxlen=20)
        with subprocess.Popen(
            _command(args, settings), env=env, cwd=settings.dbt_project_dir,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ) as proc:
            for line in proc.stdout or ():  # dbt's log, as it goes
                log.info("%s", line.rstrip())
                tail.append(line.rstrip())
        if proc.returncode == 0 and args[:1] == ["parse"]:
            _publish_manifest(settings)  # still under the lock: no dbt writes meanwhile
        if proc.returncode != 0:
            nodes, skipped = _failed_nodes(settings)
            detail = (f"failing nodes: {', '.join(nodes)}; {skipped} skipped after them"
                      if nodes else "\n".join(tail))
            raise DbtError(f"dbt {' '.join(args)} failed (exit {proc.returncode}); {detail}",
                           nodes)


def docs(settings: Settings | None = None) -> str:
    """Generate the dbt docs site and publish ``index.html``, ``manifest.json`` and
    ``catalog.json`` to ``<lake>/reports/dbt_docs/`` (the docs site serves ``reports/``)."""
    settings = settings or get_settings()
    run_dbt(["docs", "generate"], settings)
    return publish_docs(target_dir(settings), settings)


def publish_docs(target: Path, settings: Settings) -> str:
    """Copy the docs site ``dbt docs generate`` wrote into ``target`` to
    ``<lake>/reports/dbt_docs/``; returns that folder."""
    from lakeops.storage.lake import Lake

    lake = Lake.from_settings(settings)
    for name in DOCS_FILES:
        source = target / name
        if lake.is_local:
            destination = lake.local_path(f"reports/dbt_docs/{name}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        else:
            lake.put_file(source, f"reports/dbt_docs/{name}")
    return docs_dir(settings)


def publish_cosmos_docs(project_dir: str, **_: Any) -> None:
    """Cosmos' docs-operator callback: publish what its ``dbt docs generate`` wrote into
    the task's copy of the project."""
    publish_docs(Path(project_dir) / "target", get_settings())


# -- Airflow tasks ------------------------------------------------------------------------


def parse(settings: Settings | None = None) -> None:
    """``dbt parse``: writes the manifest the ``dbt_build`` DAG is rendered from."""
    run_dbt(["parse"], settings or get_settings())


def build(settings: Settings | None = None) -> None:
    """``dbt build``: every model, its unit tests and data tests, in dependency order."""
    run_dbt(["build"], settings or get_settings())


def manifest(settings: Settings) -> dict[str, Any] | None:
    """The manifest the last ``dbt parse`` published, or ``None`` when there is none yet,
    or it is unreadable or holds no model (the DAG then falls back to one ``dbt build``)."""
    try:
        data: dict[str, Any] = json.loads(dag_manifest_path(settings).read_text())
        if not any(n.get("resource_type") == "model" for n in data["nodes"].values()):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return data


# -- astronomer-cosmos ----------------------------------------------------------------------


def cosmos_profile(settings: Settings) -> ProfileConfig:
    """The Cosmos ``ProfileConfig`` of the ``dbt_build`` DAG: ``<home>/dbt/profiles.yml``
    for the configured target. Parsing the DAG only names the file; each Cosmos dbt
    invocation runs inside :func:`dbt_session` (Cosmos' ``ensure_profile`` hook): the file
    is written from the settings, the variables and secrets dbt reads are added to that
    invocation's environment, and on the ``local`` target the lock keeps the DuckDB file
    to one writer."""
    return _cosmos_profile_class()(
        profile_name=PROJECT,
        target_name=settings.dbt_target_name,
        profiles_yml_filepath=dbt_home(settings) / "profiles.yml",
    )


@functools.cache
def _cosmos_profile_class() -> type[ProfileConfig]:
    from cosmos.config import ProfileConfig  # Airflow's config: imported only by the DAG

    class SettingsProfileConfig(ProfileConfig):
        """``profiles.yml`` from :func:`write_profiles`, written when dbt runs."""

        def validate_profiles_yml(self) -> None:
            """Nothing to check at parse time: the file is written when a task runs."""

        @contextlib.contextmanager
        def ensure_profile(self, desired_profile_path: Path | None = None,
                           use_mock_values: bool = False) -> Iterator[tuple[Path, dict[str, str]]]:
            settings = get_settings()
            local = settings.dbt_target_name == "local"
            with dbt_session(settings, exclusive=local) as variables:
                yield Path(str(self.profiles_yml_filepath)), variables

    return SettingsProfileConfig
