"""spark-submit entry point:
`spark-submit spark_jobs/business_features.py --interval YYYY-MM-DD`."""

from __future__ import annotations

import argparse
import json
import logging

from lakeops.settings import get_settings
from lakeops.transform.features import run_job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", required=True, help="data interval day, YYYY-MM-DD")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(json.dumps(run_job("business_features", args.interval, get_settings())))


if __name__ == "__main__":
    main()
