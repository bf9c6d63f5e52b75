"""spark-submit entry point:
`spark-submit spark_jobs/business_features.py --interval YYYY-MM-DD`."""

from lakeops.transform.features import main

if __name__ == "__main__":
    main("business_features")
