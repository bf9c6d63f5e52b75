"""``make bench``: every benchmark at full scale; figures are ratios within one run."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    cluster_bench,
    dashboards_bench,
    dbt_bench,
    flight_bench,
    ingest_bench,
    lakes,
    ml_bench,
    oulad_bench,
    spark_bench,
    stack_bench,
    validate_bench,
)

# where each benchmark saves its figures (<name>.json; git-ignored), unless --results says
RESULTS = Path(__file__).resolve().parent / "results"
# in the order they run; all of them by default
BENCHMARKS = ["ingest", "validate", "oulad", "flight", "dbt", "dashboards", "spark", "ml",
              "stack", "cluster"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--work", type=Path, default=Path(".lakeops-bench"),
                        help="scratch state folder (generated data is reused between runs)")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = full OULAD size")
    parser.add_argument("--days", type=int, default=lakes.FULL_DAYS)
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="folder the benchmarks save their figures in, one JSON file "
                        "each (default: benchmarks/results)")
    parser.add_argument("--only", choices=BENCHMARKS, action="append",
                        help="run these benchmarks only (validate and flight use the "
                        "interval ingest wrote; it is ingested first if missing)")
    args = parser.parse_args()
    work, out = args.work.absolute(), args.results.absolute()
    only = set(args.only or BENCHMARKS)
    if only & {"validate", "flight"} and "ingest" not in only:
        lakes.ensure_ingested(work / "ingest", args.scale, args.days)
    runs: dict[str, Callable[[], object]] = {
        "ingest": lambda: ingest_bench.main(work / "ingest", args.scale, args.days,
                                            results_dir=out),
        # the suite over the interval just ingested
        "validate": lambda: validate_bench.main(work / "ingest", results_dir=out),
        # the release-format files (generated) loaded end to end at the release's size and
        # 3x it (--scale/--days unused)
        "oulad": lambda: oulad_bench.main(work / "oulad", results_dir=out),
        # that interval's 10.5M rows as one result
        "flight": lambda: flight_bench.main(work / "ingest", results_dir=out),
        # both domains, a curated partition per table and day
        "dbt": lambda: dbt_bench.main(work / "dbt", args.scale, args.days, results_dir=out),
        # every dashboard's charts through Superset and the endpoint, cold and warm, vs.
        # their SQL on in-process DuckDB; on dbt's lake (built if missing)
        "dashboards": lambda: dashboards_bench.main(work / "dashboards", args.scale,
                                                    args.days, dbt_work=work / "dbt",
                                                    results_dir=out),
        # the newest week of four, one JVM per run vs one per interval; then one session's
        # memory over hundreds of jobs on a small lake
        "spark": lambda: spark_bench.main(work / "spark", args.scale,
                                          min(args.days, spark_bench.DAYS), results_dir=out),
        # training (a 1/8-of-OULAD mart), scoring 10M rows, drift on the full-scale
        # feature table; an MLflow server of its own (--scale/--days unused)
        "ml": lambda: ml_bench.main(work / "ml", results_dir=out),
        # the whole embedded stack's idle PSS: after `lakeops up`, then after `lakeops
        # demo` (--scale/--days unused), against the 3 GB budget
        "stack": lambda: stack_bench.main(work / "stack", results_dir=out),
        # the ingest -> features -> marts chain through the scheduler on the cluster profile
        # vs the embedded default (the OULAD release's files at --scale; --days unused)
        "cluster": lambda: cluster_bench.main(work / "cluster", args.scale, results_dir=out),
    }
    for name in BENCHMARKS:  # in their order
        if name in only:
            runs[name]()


if __name__ == "__main__":
    main()
