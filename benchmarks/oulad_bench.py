"""The OULAD release loaded end to end, at the release's size and at 3x it.

The release-format files come from ``lakeops generate --format oulad-release`` (the same
seven CSVs, quirks included; nothing is downloaded), generated once per scale into the
work folder. Contenders, each in a fresh process, one run each:

* ``duckdb COPY`` - the floor: DuckDB's ``COPY`` of each of the seven files to Parquet
  (read_csv with its own sniffing), one after the other, nothing checked;
* ``lakeops load`` - ingest + validate + publish of all seven tables, as the ingest DAG's
  tasks run them (the functions, in this process: the scheduler adds its own overhead,
  not the work): the contracts' typed read with rejects kept, missing markers, normalize
  map, optional columns, pseudonymization, checksums, the GX suites with their key and
  reference checks, quarantine, data docs, the curated partitions and manifests. The
  delivery (a copy of the files into the landing inbox with the historical-load marker,
  :func:`lakeops.onboarding.oulad.deliver`) happens before the clock starts.

Targets (issue 13): lakeops within 3x the floor's time and under 2 GB peak RSS at both
sizes - memory must not grow with the delivery.
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import date
from pathlib import Path

from benchmarks import lakes
from benchmarks.harness import measure, report, timed

INTERVAL = date(2030, 1, 1)
SCALES = (1.0, 3.0)
TABLES = ("courses", "assessments", "vle", "studentInfo", "studentRegistration",
          "studentAssessment", "studentVle")


def _floor(folder: str, out: str) -> int:
    import duckdb

    con = duckdb.connect()
    rows = 0
    for table in TABLES:
        target = f"{out}/{table}.parquet"
        con.execute(f"COPY (SELECT * FROM read_csv('{folder}/{table}.csv', header=true)) "
                    f"TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
        rows += int(con.execute(f"SELECT count(*) FROM '{target}'").fetchone()[0])  # type: ignore[index]
    return rows


def _lakeops(home: str) -> int:
    from lakeops.ingest import stage as ingest
    from lakeops.validate import publish

    settings = _settings(home)
    delivered = sum(ingest.ingest_table("education", t, INTERVAL, settings)["rows_in"]
                    for t in TABLES)
    published = publish.validate_interval("education", INTERVAL.isoformat(), settings)
    assert sum(p["delivered"] for p in published.values()) == delivered
    return delivered


def _settings(home: str):  # type: ignore[no-untyped-def]
    from lakeops.core.settings import Settings

    return Settings(home=Path(home))


def child(kind: str, *args: str) -> None:
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    if kind == "floor":
        timed(_floor, *args)
        return
    folder, home = args
    from lakeops.onboarding import oulad
    from lakeops.storage.lake import Lake

    shutil.rmtree(home, ignore_errors=True)  # a fresh lake: one interval, one load
    oulad.deliver(oulad.check_release(Path(folder)), Lake.landing(_settings(home)), INTERVAL)
    import great_expectations  # noqa: F401  (imports are not the work measured)

    import lakeops.validate.publish  # noqa: F401

    timed(_lakeops, home)


def main(work: Path, *, results_dir: Path) -> dict:
    mod = "benchmarks.oulad_bench"
    results, targets = [], {}
    for scale in SCALES:
        folder = lakes.release_dir(work, scale)
        out = work / f"floor-x{scale:g}"
        out.mkdir(parents=True, exist_ok=True)
        floor = measure(f"duckdb COPY x{scale:g} (floor)", mod, "floor", str(folder), str(out))
        ours = measure(f"lakeops load x{scale:g}", mod, "lakeops", str(folder),
                       str(work / f"home-x{scale:g}"))
        results += [floor, ours]
        targets[f"x{scale:g}: lakeops / floor time (target <= 3)"] = \
            f"{ours.seconds / floor.seconds:.2f}"
        targets[f"x{scale:g}: lakeops peak MB (target <= 2048)"] = f"{ours.peak_rss_mb:.0f}"
    return report(f"oulad release load, {results[0].rows:,} rows at x1", results,
                  results[0].name, targets, results_dir)


if __name__ == "__main__":
    child(*sys.argv[1:])
