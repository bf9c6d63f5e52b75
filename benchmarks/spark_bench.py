"""Spark feature jobs: one JVM per task run instead of one per interval, and flat memory in
one session over hundreds of jobs.

The lake: both domains' curated partitions over ``days`` days at ``scale``, laid down
straight from the generator (:func:`benchmarks.lakes.curate`), kept under ``--work``.

1. JVM starts - contenders, each in a fresh process over the same lake, both computing both
   feature jobs for the newest ``INTERVALS`` intervals (a backfill an asset-triggered run
   covers):

   * ``one spark-submit per run`` - the floor: what ``lakeops.transform.spark.submit`` does
     now, one ``spark-submit --interval D1 --interval D2 ...`` per job;
   * ``one spark-submit per interval`` - the old way: a ``spark-submit`` (a JVM start, a
     session, a Python worker) for every interval.

   Both must write the same features (checked row for row).

2. Memory - one in-process session runs the feature jobs ``MEMORY_JOBS`` times, cycling
   over every interval of a small lake, oldest first; every ``SAMPLE_EVERY`` jobs it
   records the driver JVM's heap used after a full GC and the RSS of the JVM. Flat memory:
   the median of the last quarter's samples over the first quarter's is about 1.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.harness import measure, report, save, timed
from benchmarks.lakes import START, curate_both

JOBS = ("education_features", "business_features")
DAYS = 28  # four weeks of curated history (``make bench`` passes min(--days, DAYS))
INTERVALS = 7  # the newest week pending, as a backfill hands one asset-triggered run
MEMORY_SCALE = 0.02
MEMORY_DAYS = 10
MEMORY_JOBS = 240  # 12 rounds of 2 jobs x 10 intervals
SAMPLE_EVERY = 10
MARKER = "prepared.json"


def _settings(work: Path):  # type: ignore[no-untyped-def]
    from lakeops.core.settings import Settings

    return Settings(home=work, spark_master="local[*]")


def prepare(work: Path, scale: float, days: int) -> list[str]:
    """The curated lake of both domains (kept when it matches); returns its intervals."""
    marker = work / MARKER
    wanted = {"scale": scale, "days": days}
    if not (marker.exists() and json.loads(marker.read_text()) == wanted):
        curate_both(work, scale, days)
        marker.write_text(json.dumps(wanted))
    return [(START + timedelta(days=d)).isoformat() for d in range(days)]


# -- child side ---------------------------------------------------------------------------


def _written_rows(work: Path, intervals: list[str]) -> int:
    from lakeops.catalog.datasets import feature_job
    from lakeops.storage.lake import Lake

    lake = Lake.from_settings(_settings(work))
    return sum(lake.read_partition("features", feature_job(job).output.dataset, day).num_rows
               for job in JOBS for day in intervals)


def _submit(work: Path, per_interval: bool, intervals: list[str]) -> int:
    from lakeops.transform import spark

    settings = _settings(work)
    for job in JOBS:
        for batch in ([[d] for d in intervals] if per_interval else [intervals]):
            spark.submit(job, batch, settings)
    return _written_rows(work, intervals)


def _jvm_pid(session: Any) -> int:
    return int(session._jvm.ProcessHandle.current().pid())


def _jvm_sample(session: Any, pid: int) -> tuple[float, float]:
    """The driver JVM's heap used after a full GC and its resident set, in MB."""
    jvm = session._jvm
    jvm.System.gc()
    time.sleep(0.5)  # Spark's ContextCleaner drops what that GC found unreachable
    jvm.System.gc()
    heap = jvm.java.lang.management.ManagementFactory.getMemoryMXBean() \
        .getHeapMemoryUsage().getUsed()
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines()
                  if line.startswith("VmRSS:"))
    return heap / 2**20, rss_kb / 1024


def _memory(work: Path, jobs: int, every: int, out: Path) -> int:
    """Run ``jobs`` feature jobs in one session, cycling over the lake's intervals."""
    from lakeops.transform.features import run_job, spark_session

    settings = _settings(work)
    intervals = prepare(work, MEMORY_SCALE, MEMORY_DAYS)
    runs = [(job, day) for day in intervals for job in JOBS]
    session = spark_session(settings, "lakeops-bench-spark-memory")
    pid = _jvm_pid(session)
    samples = []
    rows = 0
    try:
        for n in range(1, jobs + 1):
            job, day = runs[(n - 1) % len(runs)]
            rows += int(run_job(job, day, settings, session)["rows"])
            if n % every == 0:
                heap, rss = _jvm_sample(session, pid)
                samples.append({"jobs": n, "heap_mb": heap, "rss_mb": rss})
    finally:
        session.stop()
    out.write_text(json.dumps(samples))
    return rows


def child(kind: str, work: str, *rest: str) -> None:
    if kind == "submit":
        timed(_submit, Path(work), rest[0] == "per-interval", list(rest[1:]))
    elif kind == "memory":
        timed(_memory, Path(work), int(rest[0]), int(rest[1]), Path(rest[2]))
    else:
        raise SystemExit(f"unknown child {kind!r}")


# -- parent side --------------------------------------------------------------------------


def _features(work: Path) -> dict[str, list[dict]]:
    """Every feature partition's rows, sorted, by path."""
    import pyarrow.parquet as pq

    root = work / "lake" / "features"
    return {str(p.relative_to(root)): sorted(pq.read_table(p).to_pylist(), key=repr)
            for p in sorted(root.glob("*/*/dt=*/part-0.parquet"))}


def jvm_starts(work: Path, scale: float, days: int, results_dir: Path,
               count: int = INTERVALS) -> dict:
    intervals = prepare(work, scale, days)[-count:]
    mod = "benchmarks.spark_bench"
    results = []
    written = {}
    for name, mode in (("one spark-submit per interval", "per-interval"),
                       ("one spark-submit per run", "per-run")):
        shutil.rmtree(work / "lake" / "features", ignore_errors=True)
        results.append(measure(name, mod, "submit", str(work), mode, *intervals))
        written[mode] = _features(work)
    assert written["per-interval"] == written["per-run"], \
        "one spark-submit over the intervals wrote other features than one per interval"
    old, new = results
    return report(
        f"Spark feature jobs, {len(JOBS)} jobs x {len(intervals)} intervals at scale {scale} "
        f"over {days} days", [new, old], new.name,
        {"per-interval / per-run time": f"{old.seconds / new.seconds:.2f}",
         "seconds per interval and job": f"old {old.seconds / len(JOBS) / len(intervals):.1f}"
                                         f", new {new.seconds / len(JOBS) / len(intervals):.1f}",
         "intervals": f"{intervals[0]} .. {intervals[-1]}",
         "features": f"{len(written['per-run'])} partitions, identical either way"},
        results_dir)


def _quartile_medians(values: list[float]) -> tuple[float, float]:
    q = max(1, len(values) // 4)
    return statistics.median(values[:q]), statistics.median(values[-q:])


def memory(work: Path, results_dir: Path, jobs: int = MEMORY_JOBS,
           every: int = SAMPLE_EVERY) -> dict:
    prepare(work, MEMORY_SCALE, MEMORY_DAYS)
    out = work / "memory-samples.json"
    run = measure("one session, many jobs", "benchmarks.spark_bench", "memory", str(work),
                  str(jobs), str(every), str(out))
    samples = json.loads(out.read_text())
    title = (f"Spark session memory over {jobs} feature jobs (scale {MEMORY_SCALE}, "
             f"{MEMORY_DAYS} intervals, both jobs, cycled)")
    print(f"\n== {title}")
    print(f"{'jobs':>6}{'heap after GC MB':>18}{'JVM RSS MB':>12}")
    for s in samples:
        print(f"{s['jobs']:>6}{s['heap_mb']:>18.0f}{s['rss_mb']:>12.0f}")
    heap_first, heap_last = _quartile_medians([s["heap_mb"] for s in samples])
    rss_first, rss_last = _quartile_medians([s["rss_mb"] for s in samples])
    targets = {
        "heap after GC, last / first quartile median":
            f"{heap_last / heap_first:.2f} ({heap_first:.0f} -> {heap_last:.0f} MB)",
        "JVM RSS, last / first quartile median":
            f"{rss_last / rss_first:.2f} ({rss_first:.0f} -> {rss_last:.0f} MB)",
        "time": f"{run.seconds:.0f}s, {run.seconds / jobs:.2f}s per job",
    }
    for label, text in targets.items():
        print(f"  {label}: {text}")
    data = {"title": title, "jobs": jobs, "sample_every": every, "seconds": run.seconds,
            "rows": run.rows, "peak_rss_mb": run.peak_rss_mb, "samples": samples,
            "targets": targets}
    save(results_dir, "spark_memory", data)
    return data


def main(work: Path, scale: float = 1.0, days: int = DAYS, *, results_dir: Path) -> dict:
    return {"jvm_starts": jvm_starts(work / "lake-runs", scale, days, results_dir),
            "memory": memory(work / "lake-memory", results_dir)}


if __name__ == "__main__":
    child(*sys.argv[1:])
