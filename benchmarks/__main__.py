"""``make bench``: every benchmark at full scale; figures are ratios within one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import (
    dbt_bench,
    flight_bench,
    ingest_bench,
    ml_bench,
    spark_bench,
    validate_bench,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--work", type=Path, default=Path(".lakeops-bench"),
                        help="scratch state folder (generated data is reused between runs)")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = full OULAD size")
    parser.add_argument("--days", type=int, default=ingest_bench.FULL_DAYS)
    parser.add_argument("--only", choices=["ingest", "validate", "flight", "dbt", "spark", "ml"],
                        action="append", help="run these benchmarks only (validate and "
                        "flight use the interval ingest wrote; it is ingested first if "
                        "missing)")
    args = parser.parse_args()
    args.work = args.work.absolute()
    only = set(args.only or ["ingest", "validate", "flight", "dbt", "spark", "ml"])
    if "ingest" in only:
        ingest_bench.main(args.work / "ingest", args.scale, args.days)
    if only & {"validate", "flight"} and "ingest" not in only:
        ingest_bench.ensure_ingested(args.work / "ingest", args.scale, args.days)
    if "validate" in only:  # the suite over the interval just ingested
        validate_bench.main(args.work / "ingest")
    if "flight" in only:  # that interval's 10.5M rows as one result
        flight_bench.main(args.work / "ingest")
    if "dbt" in only:  # both domains, a curated partition per table and day
        dbt_bench.main(args.work / "dbt", args.scale, args.days)
    if "spark" in only:  # the newest week of four, one JVM per run vs one per interval;
        # then one session's memory over hundreds of jobs on a small lake
        spark_bench.main(args.work / "spark", args.scale, min(args.days, spark_bench.DAYS))
    if "ml" in only:  # training (a 1/8-of-OULAD mart), scoring 10M rows, drift on the
        # full-scale feature table; an MLflow server of its own (--scale/--days unused)
        ml_bench.main(args.work / "ml")


if __name__ == "__main__":
    main()
