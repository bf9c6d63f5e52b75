"""The whole dbt build at full scale, against the same SQL run without dbt.

The lake: both domains over a full OULAD presentation year (269 days, scale 1.0: ~32.6k
students and ~10.6M clickstream rows; ~20k orders a day), one curated partition per table
and day, and the Spark features every four weeks and on the last day. The curated zone is
laid down straight from the generator with the columns, types and PII transforms the ingest
task writes (running 2 x 269 validated Airflow intervals would take the benchmark half an
hour; what is measured here is dbt). The lake is kept between runs under ``--work``.

Contenders, each in a fresh process, over that lake:

* ``models' SQL, plain DuckDB`` - the floor: the compiled SQL of every model (from the
  manifest of ``dbt compile``), run in dependency order in one DuckDB session; views stay
  views, marts are written to Parquet as dbt-duckdb does;
* ``dbt run`` - ``lakeops dbt run``: every model through dbt (start-up, parse, adapter,
  materializations);
* ``models' and tests' SQL, plain DuckDB`` - the floor plus every data test's query;
* ``dbt build`` - ``lakeops dbt build``: models, data tests and unit tests, as the
  ``dbt_build`` DAG's fallback and the CI run it.

The figures are ratios against the floor. Both paths must write the same rows to each mart.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.harness import measure, report, timed

START = date(2024, 10, 1)
FULL_DAYS = 269
FEATURE_EVERY = 28  # days between feature partitions
SEED = 11
COMPILED = "compiled-manifest.json"


def _settings(work: Path):  # type: ignore[no-untyped-def]
    from lakeops.settings import Settings

    return Settings(home=work)


def curate(work: Path, domain: str, scale: float, days: int) -> int:
    """Write ``days`` curated partitions of every table of ``domain``; returns the rows."""
    import duckdb

    from lakeops import generate, ingest
    from lakeops.contracts import get_contract
    from lakeops.lake import DATA_FILE, Lake, partition_dir, table_path
    from lakeops.secrets import pii_key

    settings = _settings(work)
    lake = Lake.from_settings(settings)
    world = (generate.Education(scale, SEED, None, 14) if domain == "education"
             else generate.Business(scale, SEED, START, None, 14))
    con = duckdb.connect()
    ingest._register_pseudonym(con, pii_key(settings))
    rows = 0
    for d in range(days):
        interval = (START + timedelta(days=d)).isoformat()
        for table, data in world.day(d).items():
            contract = get_contract(domain, table)
            path = lake.local_path(table_path("curated", contract.dataset,
                                              partition_dir(interval), DATA_FILE))
            path.parent.mkdir(parents=True, exist_ok=True)
            con.register("delivered", data)
            con.execute(f"COPY (SELECT {ingest._lake_select(contract)} FROM delivered) "
                        f"TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
            con.unregister("delivered")
            rows += data.num_rows
    return rows


def feature_intervals(days: int) -> list[str]:
    picks = sorted({*range(FEATURE_EVERY - 1, days, FEATURE_EVERY), days - 1})
    return [(START + timedelta(days=d)).isoformat() for d in picks]


def prepare(work: Path, scale: float, days: int) -> None:
    """The full-scale curated lake, its features and the compiled dbt project (kept)."""
    from lakeops.transform import dbt
    from lakeops.transform.features import OUTPUTS, run_job, spark_session

    marker = work / "prepared.json"
    wanted = {"scale": scale, "days": days, "seed": SEED}
    if not (marker.exists() and json.loads(marker.read_text()) == wanted):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        settings = _settings(work)
        for domain in ("education", "business"):
            t0 = time.perf_counter()
            rows = curate(work, domain, scale, days)
            print(f"curated {domain}: {rows:,} rows over {days} days in "
                  f"{time.perf_counter() - t0:.0f}s")
        t0 = time.perf_counter()
        spark = spark_session(settings, "lakeops-bench-features")
        try:
            for job in OUTPUTS:
                for interval in feature_intervals(days):
                    run_job(job, interval, settings, spark)
        finally:
            spark.stop()
        print(f"features at {len(feature_intervals(days))} intervals in "
              f"{time.perf_counter() - t0:.0f}s")
        marker.write_text(json.dumps(wanted))
    settings = _settings(work)
    dbt.run_dbt(["compile"], settings)  # the floor runs the SQL dbt compiles
    shutil.copyfile(dbt.manifest_path(settings), work / COMPILED)  # later runs overwrite it


# -- the contenders (child side) ------------------------------------------------------------


def mart_rows(lake_root: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {p.parent.name: pq.ParquetFile(p).metadata.num_rows
            for p in sorted(lake_root.glob("*/part-0.parquet"))}


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
    return sum(mart_rows(out_dir).values())


def _dbt(work: str, command: str) -> int:
    from lakeops.transform import dbt

    settings = _settings(Path(work))
    dbt.run_dbt([command], settings)
    return sum(mart_rows(Path(settings.lake) / "marts").values())


def child(kind: str, work: str, *rest: str) -> None:
    import duckdb  # noqa: F401  (imports are not the work measured)

    import lakeops.transform.dbt  # noqa: F401

    if kind == "dbt":
        timed(_dbt, work, rest[0])
    else:
        timed(_plain_duckdb, work, rest[0], kind == "floor-build")


def main(work: Path, scale: float = 1.0, days: int = FULL_DAYS) -> dict:
    prepare(work, scale, days)
    floor_out = work / "floor-marts"
    mod = "benchmarks.dbt_bench"
    results = [
        measure("models' SQL, plain DuckDB", mod, "floor", str(work), str(floor_out)),
        measure("dbt run", mod, "dbt", str(work), "run"),
        measure("models+tests SQL, DuckDB", mod, "floor-build", str(work), str(floor_out)),
        measure("dbt build", mod, "dbt", str(work), "build"),
    ]
    ours = mart_rows(Path(_settings(work).lake) / "marts")
    theirs = mart_rows(floor_out)
    assert ours == theirs, f"dbt and the plain SQL wrote different marts: {ours} vs {theirs}"
    floor, run, floor_build, build = results
    return report(
        f"dbt build at scale {scale} over {days} days ({sum(ours.values()):,} mart rows)",
        results, floor.name,
        {"dbt run / models' SQL time": f"{run.seconds / floor.seconds:.2f}",
         "dbt build / models' and tests' SQL time": f"{build.seconds / floor_build.seconds:.2f}",
         "mart rows": ", ".join(f"{k} {v:,}" for k, v in ours.items())},
    )


if __name__ == "__main__":
    child(*sys.argv[1:])
