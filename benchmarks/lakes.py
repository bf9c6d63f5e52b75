"""What more than one benchmark runs on, built under the run's work folder and kept between
runs (rebuilt only when missing, or made with other parameters):

* the clickstream's bulk delivery (``INTERVAL``) the ingest benchmark ingests, and the raw
  partition it leaves, which the validate and flight benchmarks read
  (:func:`ensure_ingested` when they run without it);
* the OULAD release's files at a scale (the oulad and cluster benchmarks);
* the curated lake of both domains, laid down straight from the generator with the
  columns, types and PII transforms the ingest task writes (the Spark benchmark's), with
  the Spark features on top (the dbt benchmark's, whose marts the dashboards benchmark
  reads).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lakeops.core.settings import Settings

INTERVAL = "2030-01-01"  # the bulk delivery the ingest benchmark ingests as one interval
FULL_DAYS = 269  # a full OULAD presentation year
START = date(2024, 10, 1)  # the curated lake's first day
SEED = 11  # the curated lake's generator seed
FEATURE_EVERY = 28  # days between the curated lake's feature partitions
CURATED_MARKER = "prepared.json"  # in a work folder: the parameters of its curated lake


def settings(work: Path) -> Settings:
    """A benchmark's settings: its work folder is the state folder."""
    from lakeops.core.settings import Settings

    return Settings(home=work)


# -- the clickstream's bulk delivery --------------------------------------------------------


def bulk_delivery(work: Path, scale: float, days: int) -> list[Path]:
    """Generate the clickstream and gather it as one bulk delivery; returns its files."""
    from lakeops.storage.lake import Lake
    from lakeops.synthetic.generate import generate

    state = settings(work)
    landing = Path(state.landing_root) / "landing"  # beside the lake: <work>/landing
    delivery = landing / "education" / "studentVle" / INTERVAL
    if not delivery.exists():
        t0 = time.perf_counter()
        generate(Lake.landing(state), "education", date(2024, 10, 1), days, scale=scale,
                 seed=7)
        print(f"generated {days} days at scale {scale} in {time.perf_counter() - t0:.1f}s")
        delivery.mkdir(parents=True)
        for f in sorted((landing / "education" / "studentVle").glob("*/*.csv")):
            if f.parent != delivery:
                shutil.move(str(f), delivery / f.name)
    archived = landing / "_archive" / "education" / "studentVle" / INTERVAL
    for f in sorted(archived.glob("*.csv")):  # an earlier run archived it: deliver it again
        shutil.move(str(f), delivery / f.name)
    return sorted(delivery.glob("*.csv"))


def ingest_bulk(home: str) -> int:
    """The ingest task over the bulk delivery; the rows it wrote."""
    from lakeops.ingest.stage import ingest_table

    return int(ingest_table("education", "studentVle", INTERVAL, settings(Path(home)))[
        "rows_written"])


def raw_partition(work: Path | str) -> str:
    """The raw partition the bulk delivery's ingest writes."""
    return f"{work}/lake/raw/education/studentVle/dt={INTERVAL}/part-0.parquet"


def ensure_ingested(work: Path, scale: float = 1.0, days: int = FULL_DAYS) -> None:
    """The raw partition validate and flight measure: ingested once (untimed) when a run
    with ``--only validate`` or ``--only flight`` finds no earlier ingest benchmark."""
    if Path(raw_partition(work)).exists():
        return
    bulk_delivery(work, scale, days)
    print(f"ingesting the {INTERVAL} bulk delivery once (untimed) for the benchmarks on it")
    ingest_bulk(str(work))


# -- the OULAD release ----------------------------------------------------------------------


def release_dir(work: Path, scale: float) -> Path:
    """The release-format files of ``scale``, generated once."""
    from lakeops.synthetic.release import generate_release

    folder = work / f"release-x{scale:g}"
    if not (folder / "studentVle.csv").exists():
        rows = generate_release(folder, scale=scale, seed=11)
        print(f"generated the release format at scale {scale:g}: {rows}")
    return folder


# -- the curated lake -----------------------------------------------------------------------


def curate(work: Path, domain: str, scale: float, days: int) -> int:
    """Write ``days`` curated partitions of every table of ``domain``; returns the rows."""
    import duckdb

    from lakeops.catalog.contracts import get_contract
    from lakeops.core.keys import pii_key
    from lakeops.ingest.pii import register_pseudonym
    from lakeops.ingest.rules import lake_select
    from lakeops.storage.lake import DATA_FILE, Lake, partition_dir, table_path
    from lakeops.synthetic.business import Business
    from lakeops.synthetic.education import Education

    state = settings(work)
    lake = Lake.from_settings(state)
    world = (Education(scale, SEED, None, 14) if domain == "education"
             else Business(scale, SEED, START, None, 14))
    con = duckdb.connect()
    register_pseudonym(con, pii_key(state))
    rows = 0
    for d in range(days):
        interval = (START + timedelta(days=d)).isoformat()
        for table, data in world.day(d).items():
            contract = get_contract(domain, table)
            path = lake.local_path(table_path("curated", contract.dataset,
                                              partition_dir(interval), DATA_FILE))
            path.parent.mkdir(parents=True, exist_ok=True)
            con.register("delivered", data)
            con.execute(f"COPY (SELECT {lake_select(contract)} FROM delivered) "
                        f"TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
            con.unregister("delivered")
            rows += data.num_rows
    return rows


def feature_intervals(days: int) -> list[str]:
    """The intervals the curated lake has features for: every four weeks and the last."""
    picks = sorted({*range(FEATURE_EVERY - 1, days, FEATURE_EVERY), days - 1})
    return [(START + timedelta(days=d)).isoformat() for d in picks]


def curate_both(work: Path, scale: float, days: int) -> None:
    """``work`` emptied, then the curated partitions of both domains written into it."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for domain in ("education", "business"):
        t0 = time.perf_counter()
        rows = curate(work, domain, scale, days)
        print(f"curated {domain}: {rows:,} rows over {days} days in "
              f"{time.perf_counter() - t0:.0f}s")


def curated_lake(work: Path, scale: float, days: int) -> None:
    """The curated lake of both domains over ``days`` days with its features; kept when
    ``work`` holds one of the same scale, days and seed."""
    from lakeops.catalog.datasets import FEATURE_JOBS
    from lakeops.transform.features import run_jobs, spark_session

    if is_curated(work, scale, days):
        return
    curate_both(work, scale, days)
    t0 = time.perf_counter()
    spark = spark_session(settings(work), "lakeops-bench-features")  # one JVM for all jobs
    try:
        for job in FEATURE_JOBS.values():
            run_jobs(job.job, feature_intervals(days), settings(work), spark)
    finally:
        spark.stop()
    print(f"features at {len(feature_intervals(days))} intervals in "
          f"{time.perf_counter() - t0:.0f}s")
    (work / CURATED_MARKER).write_text(json.dumps(_curated_as(scale, days)))


def _curated_as(scale: float, days: int) -> dict[str, float]:
    return {"scale": scale, "days": days, "seed": SEED}


def is_curated(work: Path, scale: float, days: int) -> bool:
    """Whether ``work`` holds the curated lake of these parameters."""
    marker = work / CURATED_MARKER
    return marker.exists() and json.loads(marker.read_text()) == _curated_as(scale, days)


def mart_rows(marts: Path) -> dict[str, int]:
    """Rows of each mart under ``marts`` (``<mart>/part-0.parquet``)."""
    import pyarrow.parquet as pq

    return {p.parent.name: pq.ParquetFile(p).metadata.num_rows
            for p in sorted(marts.glob("*/part-0.parquet"))}


def dbt(work: str, command: str) -> int:
    """``lakeops dbt <command>`` over the curated lake in ``work``; the marts' rows."""
    from lakeops.transform import dbt as runner

    state = settings(Path(work))
    runner.run_dbt([command], state)
    return sum(mart_rows(Path(state.lake) / "marts").values())
