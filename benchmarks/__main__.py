"""``make bench``: every benchmark at full scale; figures are ratios within one run."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks import flight_bench, ingest_bench, validate_bench


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--work", type=Path, default=Path(".lakeops-bench"),
                        help="scratch state folder (generated data is reused between runs)")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = full OULAD size")
    parser.add_argument("--days", type=int, default=ingest_bench.FULL_DAYS)
    args = parser.parse_args()
    args.work = args.work.absolute()
    ingest_bench.main(args.work / "ingest", args.scale, args.days)
    validate_bench.main(args.work / "ingest")  # the suite over the interval just ingested
    flight_bench.main(args.work / "ingest")  # that interval's 10.5M rows as one result


if __name__ == "__main__":
    main()
