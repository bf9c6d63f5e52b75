"""The whole dbt build at full scale, against the same SQL run without dbt.

The lake: both domains over a full OULAD presentation year (269 days, scale 1.0: ~32.6k
students and ~10.6M clickstream rows; ~20k orders a day), one curated partition per table
and day, and the Spark features every four weeks and on the last day. The curated zone is
laid down straight from the generator with the columns, types and PII transforms the ingest
task writes (running 2 x 269 validated Airflow intervals would take the benchmark half an
hour; what is measured here is dbt): :func:`benchmarks.lakes.curated_lake`, kept between
runs under ``--work``.

Contenders, each in a fresh process, over that lake:

* ``models' SQL, plain DuckDB`` - the floor: the compiled SQL of every model (from the
  manifest of ``dbt compile``), run in dependency order in one DuckDB session; views stay
  views, marts are written to Parquet as dbt-duckdb does;
* ``dbt run`` - ``lakeops dbt run``: every model through dbt (start-up, parse, adapter,
  materializations);
* ``models' and tests' SQL, plain DuckDB`` - the floor plus every data test's query;
* ``dbt build`` - ``lakeops dbt build``: models, data tests and unit tests, as the
  ``dbt_build`` DAG's fallback and the CI run it;
* ``dbt_build DAG, <mode>`` - the ``dbt_build`` DAG (astronomer-cosmos) run through Airflow
  with ``dag.test()`` (Airflow's in-process DAG runner: every task runs for real, one at a
  time, in one process; no scheduler, no task start-up): once in ``ExecutionMode.WATCHER``
  (one ``dbt build``, the model tasks follow it) and once in ``ExecutionMode.LOCAL`` (a
  dbt invocation per task, in-process). Their floor is ``dbt build``.

The figures are ratios against the floor. Both paths must write the same rows to each mart.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks import lakes
from benchmarks.harness import measure, report, timed

COMPILED = "compiled-manifest.json"
DAG_FILE = Path(__file__).resolve().parents[1] / "dags" / "dbt_build.py"
DAG_MODES = ("watcher", "local")


def prepare(work: Path, scale: float, days: int) -> None:
    """The full-scale curated lake, its features (both kept) and the compiled dbt project."""
    from lakeops.transform import dbt

    lakes.curated_lake(work, scale, days)
    settings = lakes.settings(work)
    dbt.run_dbt(["compile"], settings)  # the floor runs the SQL dbt compiles
    shutil.copyfile(dbt.manifest_path(settings), work / COMPILED)  # later runs overwrite it


# -- the contenders (child side) ------------------------------------------------------------


def _ordered_models(manifest: dict) -> list[dict]:
    """Models in dependency order (parents first)."""
    models = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model"}
    done: set[str] = set()
    order: list[dict] = []

    def visit(uid: str) -> None:
        if uid in done:
            return
        done.add(uid)
        for parent in models[uid]["depends_on"]["nodes"]:
            if parent in models:
                visit(parent)
        order.append(models[uid])

    for uid in sorted(models):
        visit(uid)
    return order


def _plain_duckdb(work: str, out: str, with_tests: bool) -> int:
    """The floor: the manifest's compiled SQL in one DuckDB session, no dbt."""
    import duckdb

    from lakeops.transform import dbt

    manifest = json.loads((Path(work) / COMPILED).read_text())
    out_dir = Path(out)
    shutil.rmtree(out_dir, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        # the same database name dbt's relation names carry ("lakeops"."main"."...")
        con = duckdb.connect(str(Path(tmp) / f"{dbt.PROJECT}.duckdb"), config={
            "autoinstall_known_extensions": False, "autoload_known_extensions": False})
        for node in _ordered_models(manifest):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {node['database']}.{node['schema']}")
            sql, relation = node["compiled_code"], node["relation_name"]
            if node["config"]["materialized"] == "view":
                con.execute(f"CREATE OR REPLACE VIEW {relation} AS {sql}")
                continue
            target = out_dir / node["name"] / "part-0.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)")
            con.execute(f"CREATE OR REPLACE VIEW {relation} AS "
                        f"SELECT * FROM read_parquet('{target}')")
        if with_tests:
            failures = 0
            for node in manifest["nodes"].values():
                if node["resource_type"] == "test":
                    row = con.execute(f"SELECT count(*) FROM ({node['compiled_code']}) t"
                                      ).fetchone()
                    failures += int(row[0]) if row else 0
            if failures:
                raise RuntimeError(f"the data tests found {failures} failing rows")
        con.close()
    return sum(lakes.mart_rows(out_dir).values())


def airflow_env(work: Path) -> dict[str, str]:
    """A scratch Airflow (its own SQLite metadata DB) over this repository's DAGs."""
    return {
        "LAKEOPS_HOME": str(work),
        "AIRFLOW_HOME": str(work / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAG_FILE.parent),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }


def prepare_dag_runs(work: Path) -> None:
    """The metadata DB and the manifest the DAG is rendered from (``dbt parse``)."""
    import os
    import subprocess

    from lakeops.transform import dbt

    env = {**os.environ, **airflow_env(work)}
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    dbt.parse(lakes.settings(work))


def _dag_test(work: str, mode: str) -> None:
    """Render the DAG in ``mode`` (not timed), then time one ``dag.test()`` of it."""
    import runpy

    import airflow  # noqa: F401  (before cosmos: Airflow's plugins import it half-way)
    from cosmos import ExecutionMode

    dag = runpy.run_path(str(DAG_FILE))["build"](ExecutionMode(mode))

    def run() -> int:
        result = dag.test()
        if str(result.state) != "success":
            failed = [ti.task_id for ti in result.get_task_instances()
                      if str(ti.state) != "success"]
            raise RuntimeError(f"dbt_build ({mode}) {result.state}: {failed}")
        return sum(lakes.mart_rows(Path(lakes.settings(Path(work)).lake) / "marts").values())

    timed(run)


def child(kind: str, work: str, *rest: str) -> None:
    import duckdb  # noqa: F401  (imports are not the work measured)

    import lakeops.transform.dbt  # noqa: F401

    if kind == "dag":
        _dag_test(work, rest[0])
    elif kind == "dbt":
        timed(lakes.dbt, work, rest[0])
    else:
        timed(_plain_duckdb, work, rest[0], kind == "floor-build")


def main(work: Path, scale: float = 1.0, days: int = lakes.FULL_DAYS, *,
         results_dir: Path) -> dict:
    prepare(work, scale, days)
    floor_out = work / "floor-marts"
    mod = "benchmarks.dbt_bench"
    results = [
        measure("models' SQL, plain DuckDB", mod, "floor", str(work), str(floor_out)),
        measure("dbt run", mod, "dbt", str(work), "run"),
        measure("models+tests SQL, DuckDB", mod, "floor-build", str(work), str(floor_out)),
        measure("dbt build", mod, "dbt", str(work), "build"),
    ]
    ours = lakes.mart_rows(Path(lakes.settings(work).lake) / "marts")
    theirs = lakes.mart_rows(floor_out)
    assert ours == theirs, f"dbt and the plain SQL wrote different marts: {ours} vs {theirs}"
    prepare_dag_runs(work)
    dag_runs = [measure(f"dbt_build DAG, {mode}", mod, "dag", str(work), mode,
                        env=airflow_env(work)) for mode in DAG_MODES]
    for run in dag_runs:
        assert run.rows == results[-1].rows, f"{run.name} wrote other marts than dbt build"
    floor, run, floor_build, build = results
    return report(
        f"dbt build at scale {scale} over {days} days ({sum(ours.values()):,} mart rows)",
        [*results, *dag_runs], floor.name,
        {"dbt run / models' SQL time": f"{run.seconds / floor.seconds:.2f}",
         "dbt build / models' and tests' SQL time": f"{build.seconds / floor_build.seconds:.2f}",
         **{f"{r.name} (dag.test) / dbt build time (target <= 2)":
            f"{r.seconds / build.seconds:.2f}" for r in dag_runs},
         "mart rows": ", ".join(f"{k} {v:,}" for k, v in ours.items())},
        results_dir,
    )


if __name__ == "__main__":
    child(*sys.argv[1:])
