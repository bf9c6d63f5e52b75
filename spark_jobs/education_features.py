"""spark-submit entry point:
`spark-submit spark_jobs/education_features.py --interval YYYY-MM-DD [--interval ...]`
(or `--intervals D1,D2`): every interval in one session, oldest first."""

from lakeops.transform.features import main

if __name__ == "__main__":
    main("education_features")
