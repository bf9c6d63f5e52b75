"""Feature DAGs on Spark: ``features_education`` and ``features_business``.

Only wiring lives here; the work is in :mod:`lakeops.transform.features` (run by Spark's
own ``spark-submit`` through :mod:`lakeops.transform.spark`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task

from lakeops import validate
from lakeops.settings import get_settings
from lakeops.transform import spark

START = pendulum.datetime(2024, 10, 1, tz="UTC")
JOBS = {
    # source: (job, feature table, curated tables it reads)
    "education": ("education_features", "student_week",
                  ("studentVle", "studentAssessment", "vle", "assessments")),
    "business": ("business_features", "customer_day", ("orders", "order_items", "products")),
}

DOC = """
### Features `{source}` (Spark)

Scheduled on data: a run starts once every curated table it reads has been published
again ({inputs}), and covers the data intervals those publications were for. For each,
**{job}** runs `spark-submit spark_jobs/{job}.py --interval <day>` (master from
`LAKEOPS_SPARK_MASTER`; Spark's log is this task's log) and replaces
`features/{source}/{name}/dt=<day>/part-0.parquet`, then emits the asset
`lakeops://features/{source}/{name}` that the dbt DAG waits for.

Features use only curated data up to the interval (point in time). To recompute a day by
hand, trigger with conf `{{"interval": "YYYY-MM-DD"}}`.
"""


def build(source: str) -> DAG:
    job, name, inputs = JOBS[source]
    with DAG(
        dag_id=f"features_{source}",
        description=f"Spark feature job {job} over the curated {source} tables",
        doc_md=DOC.format(source=source, job=job, name=name, inputs=", ".join(inputs)),
        schedule=[Asset(name=f"curated.{source}.{t}", uri=validate.curated_asset_uri(source, t))
                  for t in inputs],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        params={"interval": Param(None, type=["null", "string"],
                                  description="recompute this day (YYYY-MM-DD) by hand")},
        tags=["lakeops", "features", "spark", source],
        default_args={"owner": "data-platform", "retries": 1,
                      "retry_delay": timedelta(seconds=30)},
    ) as dag:

        @task(task_id=job, outlets=[Asset(name=f"features.{source}.{name}",
                                          uri=f"lakeops://features/{source}/{name}")])
        def run(**context: Any) -> list[str]:
            intervals = spark.intervals_to_run(context)
            for interval in intervals:
                spark.submit(job, interval, get_settings())
            return intervals

        run()
    return dag


for _source in JOBS:
    globals()[f"features_{_source}"] = build(_source)
