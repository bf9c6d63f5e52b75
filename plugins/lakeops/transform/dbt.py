"""Run the dbt project (``dbt/``) against the lake: profiles from settings, one runner.

Two targets, both derived from :class:`~lakeops.settings.Settings` and written to
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
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lakeops.locking import file_lock
from lakeops.query.catalog import SPACE
from lakeops.secrets import write_private
from lakeops.settings import Settings, get_settings

log = logging.getLogger(__name__)

PROJECT = "lakeops"  # the dbt project and its profile
DREMIO_REST_PORT = 9047
PASSWORD_ENV = "LAKEOPS_FLIGHT_PASSWORD"
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
    """The manifest the ``dbt_build`` DAG is rendered from: a copy published atomically
    after each ``dbt parse``. The tasks' own dbt runs rewrite ``target/manifest.json``
    while the DAG processor may be reading; a half-written file there must not change the
    DAG's shape under a running run."""
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
    from lakeops import duckdb_s3

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


def _environment(settings: Settings) -> dict[str, str]:
    target = settings.dbt_target_name
    env = dict(os.environ)
    if target == "local" and settings.lake_is_s3:
        from lakeops import duckdb_s3

        duckdb_s3.install_httpfs(settings)
        if settings.s3_access_key and settings.s3_secret_key:
            env[S3_KEY_ENV["key_id"]] = settings.s3_access_key.get_secret_value()
            env[S3_KEY_ENV["secret"]] = settings.s3_secret_key.get_secret_value()
    env.update(
        LAKEOPS_LAKE=settings.lake if settings.lake_is_s3 else str(Path(settings.lake).absolute()),
        DO_NOT_TRACK="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_USE_COLORS="false",
    )
    env.pop("DBT_PROFILES_DIR", None)
    env.pop("DBT_PROJECT_DIR", None)
    if target == "dremio":
        if settings.flight_password is None:
            raise ValueError("the dremio dbt target needs LAKEOPS_FLIGHT_PASSWORD")
        env[PASSWORD_ENV] = settings.flight_password.get_secret_value()
    return env


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
    for name in mart_names(settings):
        (Path(settings.lake) / "marts" / name).mkdir(parents=True, exist_ok=True)


def run_dbt(args: list[str], settings: Settings) -> None:
    """Run ``dbt <args>`` (e.g. ``["build"]``, ``["run", "--select", "x"]``) for the
    configured target; raise :class:`DbtError` naming the failing nodes when it fails."""
    env = _environment(settings)
    write_profiles(settings)
    _prepare_marts(settings)
    results = target_dir(settings) / "run_results.json"
    with file_lock(dbt_home(settings) / ".lock"):
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
    from lakeops.lake import Lake

    settings = settings or get_settings()
    run_dbt(["docs", "generate"], settings)
    lake = Lake.from_settings(settings)
    for name in DOCS_FILES:
        source = target_dir(settings) / name
        if lake.is_local:
            destination = lake.local_path(f"reports/dbt_docs/{name}")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        else:
            lake.put_file(source, f"reports/dbt_docs/{name}")
    return docs_dir(settings)


# -- Airflow tasks ------------------------------------------------------------------------


def parse(settings: Settings | None = None) -> None:
    """``dbt parse``: writes the manifest the ``dbt_build`` DAG is rendered from."""
    run_dbt(["parse"], settings or get_settings())


def build(settings: Settings | None = None) -> None:
    """``dbt build``: every model, its unit tests and data tests, in dependency order."""
    run_dbt(["build"], settings or get_settings())


def run_model(model: str, settings: Settings | None = None) -> None:
    run_dbt(["run", "--select", model], settings or get_settings())


def run_model_tests(model: str, tests: list[str] | None = None,
                    settings: Settings | None = None) -> None:
    """The model's own data and unit tests, plus ``tests`` (tests of several models that
    :func:`plan` gave to this one)."""
    run_dbt(["test", "--select", model, *(tests or []), "--indirect-selection", "cautious"],
            settings or get_settings())


# -- the DAG's shape from the manifest ----------------------------------------------------


@dataclass(frozen=True)
class ModelStep:
    """One model of the DAG: ``run_<name>`` after ``test_<parent>`` of each parent model,
    then ``test_<name>``, which also runs ``shared_tests`` and so waits for
    ``run_<m>`` of every model in ``test_parents``."""

    name: str
    parents: tuple[str, ...]
    shared_tests: tuple[str, ...]
    test_parents: tuple[str, ...]
    is_mart: bool


def manifest(settings: Settings) -> dict[str, Any] | None:
    """The manifest the last ``dbt parse`` published, or ``None`` when there is none (or
    it is unreadable)."""
    try:
        data: dict[str, Any] = json.loads(dag_manifest_path(settings).read_text())
    except (OSError, ValueError):
        return None
    return data


def _topological(parents: dict[str, set[str]]) -> list[str]:
    """Models in dependency order (Kahn's algorithm; ties by name, so the order is stable)."""
    children: dict[str, list[str]] = {m: [] for m in parents}
    for model, ps in parents.items():
        for p in ps:
            children[p].append(model)
    waiting = {m: len(ps) for m, ps in parents.items()}
    ready = [m for m, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        model = heapq.heappop(ready)
        order.append(model)
        for child in children[model]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, child)
    if len(order) != len(parents):
        raise ValueError("the manifest's models have a dependency cycle")
    return order


def plan(data: dict[str, Any]) -> list[ModelStep]:
    """The models of a manifest in dependency order, with the tests each test task runs.

    A test of one model runs with that model (``dbt test --select <model>``, cautious
    indirect selection). A test of several models (relationships, singular tests) runs
    once, with the parent that comes last in dependency order, after every parent ran."""
    nodes = data.get("nodes", {})
    models = {uid: n for uid, n in nodes.items()
              if n.get("resource_type") == "model" and n.get("package_name") == PROJECT}
    names = {uid: n["name"] for uid, n in models.items()}
    paths = {n["name"]: str(n.get("original_file_path", "")) for n in models.values()}
    parents = {names[uid]: {names[p] for p in n.get("depends_on", {}).get("nodes", [])
                            if p in names}
               for uid, n in models.items()}
    order = _topological(parents)
    position = {name: i for i, name in enumerate(order)}
    shared: dict[str, list[str]] = {name: [] for name in order}
    test_parents: dict[str, set[str]] = {name: set() for name in order}
    for node in nodes.values():
        if node.get("resource_type") != "test":
            continue
        tested = {names[p] for p in node.get("depends_on", {}).get("nodes", []) if p in names}
        if len(tested) > 1:
            owner = max(tested, key=position.__getitem__)
            shared[owner].append(node["name"])
            test_parents[owner] |= tested - {owner}
    return [
        ModelStep(
            name=name,
            parents=tuple(sorted(parents[name])),
            shared_tests=tuple(sorted(shared[name])),
            test_parents=tuple(sorted(test_parents[name])),
            is_mart=paths[name].startswith("models/marts/"),
        )
        for name in order
    ]


def planned_steps(settings: Settings) -> list[ModelStep] | None:
    """The plan of the manifest the last ``dbt parse`` published; ``None`` when there is no
    usable one (not parsed yet, from an incompatible dbt), so a DAG can fall back to one
    ``dbt build``."""
    data = manifest(settings)
    if data is None:
        return None
    try:
        return plan(data) or None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("ignoring unusable dbt manifest %s: %s", dag_manifest_path(settings), exc)
        return None


def mart_names(settings: Settings) -> list[str]:
    """The marts by their files (what ``dbt build`` writes under ``<lake>/marts/``)."""
    return sorted(p.stem for p in (settings.dbt_project_dir / "models" / "marts").rglob("*.sql"))
